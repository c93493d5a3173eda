// What a person needs to read of a failure: the error under an activity's or a child workflow's wrapper.
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';

function rootFailure(err: unknown): unknown {
  return err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? (err.cause ?? err) : err;
}

export function rootMessage(err: unknown): string {
  const root = rootFailure(err);
  return root instanceof Error ? root.message : String(root);
}

export function rootType(err: unknown): string | null {
  const root = rootFailure(err);
  return root instanceof ApplicationFailure ? (root.type ?? null) : null;
}

import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ActivityFailure, ChildWorkflowFailure, TemporalFailure } from '@temporalio/common';
import { inspect } from 'node:util';
import type { BatchStatusView, BillingTotals } from '../../workflows/contract';

/** No workflow tracks this batch (never tracked, or its history was already deleted by retention). */
export class BatchNotFoundError extends Error {
  override readonly name = 'BatchNotFoundError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    hint = 'track it first with `batchkeeper track` (or pass a provider to start tracking it)',
  ) {
    super(`no workflow ${workflowId} for batch ${batchId}: ${hint}`);
  }
}

/** The workflow exists but is closed, so a signal cannot reach it. */
export class BatchWorkflowClosedError extends Error {
  override readonly name = 'BatchWorkflowClosedError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    /** Temporal execution status name, e.g. `COMPLETED`. */
    readonly executionStatus: string,
    action: string,
  ) {
    super(`workflow ${workflowId} already closed (${executionStatus.toLowerCase()}): ${action}`);
  }
}

export type EndedWithoutOutcome = 'cancelled' | 'terminated' | 'timed_out' | 'failed';

/**
 * The workflow closed without returning a `BatchOutcome`. A workflow cancelled through Temporal still
 * cancels the provider batch and records billing before it closes, so whatever it last reported is kept.
 */
export class BatchWorkflowEndedError extends Error {
  override readonly name = 'BatchWorkflowEndedError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    readonly ending: EndedWithoutOutcome,
    /** The `status` query answered after the close, when a worker could replay it; else null. */
    readonly lastStatus: BatchStatusView | null,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`workflow ${workflowId} ended ${ending.replace('_', ' ')} without an outcome: ${detail}`, options);
  }

  /** Billing totals the workflow computed before it closed, when they could be read back. */
  get billing(): BillingTotals | null {
    return this.lastStatus?.billing ?? null;
  }
}

/** `waitForOutcome` gave up before the workflow closed; the workflow itself keeps running. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly batchId: string,
    readonly workflowId: string,
    readonly timeoutMs: number,
  ) {
    super(`workflow ${workflowId} still running after ${timeoutMs} ms (it keeps running; wait again later)`);
  }
}

/** Temporal could not be reached, or the namespace is not usable with these credentials. */
export class TemporalConnectError extends Error {
  override readonly name = 'TemporalConnectError';
  constructor(
    message: string,
    readonly address: string,
    readonly namespace: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Connection settings that cannot work as given (missing config file, unknown profile). */
export class ClientConfigError extends Error {
  override readonly name = 'ClientConfigError';
}

/**
 * An error's messages from the outside in, each once, with the activity type where an activity failed:
 * `['Workflow execution failed', "createBatch: create batch on provider 'x': not found (404) ..."]`. Temporal
 * wraps the message that explains a failure (usually an activity's ApplicationFailure) in WorkflowFailedError
 * and ActivityFailure, whose own messages say little. Causes are followed through Temporal's failures and the
 * errors of this library that wrap one, never through others: a connection error's cause is transport detail
 * that may carry credentials.
 */
export function failureChain(err: unknown): string[] {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let activityType: string | undefined;
  for (let e: unknown = err; e !== undefined && e !== null && !seen.has(e); e = causeOf(e)) {
    seen.add(e);
    let text: string;
    if (e instanceof ActivityFailure) {
      activityType = e.activityType || undefined;
      // "Activity task failed" adds nothing when the cause says what failed.
      if (e.cause) continue;
      text = e.message;
    } else if (e instanceof ChildWorkflowFailure) {
      text = `child workflow ${e.execution.workflowId} (${e.workflowType}) failed`;
    } else if (e instanceof WorkflowFailedError && parts.length > 0) {
      // An outer error of this library already says how the workflow ended.
      continue;
    } else {
      text = e instanceof Error ? e.message : inspect(e);
    }
    text = text.trim();
    if (!text) continue;
    if (activityType) {
      if (!text.includes(activityType)) text = `${activityType}: ${text}`;
      activityType = undefined;
    }
    if (!parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts;
}

function causeOf(e: unknown): unknown {
  const wraps =
    e instanceof TemporalFailure ||
    e instanceof WorkflowFailedError ||
    e instanceof WorkflowUpdateFailedError ||
    e instanceof BatchWorkflowEndedError;
  return wraps ? (e as { cause?: unknown }).cause : undefined;
}

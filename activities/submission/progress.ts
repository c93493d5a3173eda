import { CancelledFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';

// The helpers also run outside an activity (benchmarks, scripts): there is then no one to heartbeat to.
function current(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}

/** Heartbeats (the SDK throttles them) and stops a long read when the activity was cancelled. */
export function beat(details: Record<string, unknown>): void {
  const ctx = current();
  if (!ctx) return;
  if (ctx.cancellationSignal.aborted) throw new CancelledFailure('activity cancelled while streaming');
  ctx.heartbeat(details);
}

export function abortSignal(): AbortSignal | undefined {
  return current()?.cancellationSignal;
}

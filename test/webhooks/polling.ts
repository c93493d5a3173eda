import type { Client } from '@temporalio/client';
import { batchWorkflowId } from '../../workflows/contract';

/** Calls fn until ok(result) or the timeout; returns the last result for the test to assert on. */
export async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Terminates once no activity is in flight: the time-skipping server keeps time frozen for an activity that a
 * termination orphaned, which would stall every later test of the file.
 */
export async function terminateIdle(client: Client, batchId: string): Promise<void> {
  const handle = client.workflow.getHandle(batchWorkflowId(batchId));
  await eventually(
    () => handle.describe(),
    (d) => (d.raw.pendingActivities ?? []).length === 0,
  );
  await handle.terminate('test done');
}

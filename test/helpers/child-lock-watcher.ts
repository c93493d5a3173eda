// A workaround for the Java time-skipping test server (1.38.0): when a child workflow closes, the server locks time
// skipping "until the parent is notified", and only the parent's run releases that lock. A child that outlives the
// run that started it (the parent continued as new) is never delivered (the real server drops that notification),
// so the lock leaks and time stops skipping for good: a 336 h window would then take 336 real hours.
// (TestWorkflowMutableStateImpl, on complete, fail and cancel: `ctx.lockTimer("... notify parent")`.)
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { History } from '@temporalio/common/lib/proto-utils';

export interface ChildLockWatcher {
  /** Locks released so far: one per child that closed after the parent run that started it. */
  readonly released: number;
  stop(): Promise<void>;
}

/**
 * Watches the child workflows `childIds()` names; for each one that closed while the parent run that started it
 * had closed without recording that child's end, releases the lock the server leaked for it.
 */
export function watchOrphanedChildLocks(
  env: TestWorkflowEnvironment,
  childIds: () => string[] | Promise<string[]>,
  intervalMs = 50,
): ChildLockWatcher {
  let stopped = false;
  let released = 0;
  /** Every child id seen so far: a source that stops answering (a query once the worker is gone) loses none. */
  const known = new Set<string>();
  const refresh = async () => {
    for (const id of await Promise.resolve(childIds()).catch(() => [])) known.add(id);
  };
  const decided = new Set<string>();
  const parentHistories = new Map<string, History>();

  const recorded = (history: History, childId: string) =>
    (history.events ?? []).some((e) =>
      [
        e.childWorkflowExecutionCompletedEventAttributes,
        e.childWorkflowExecutionFailedEventAttributes,
        e.childWorkflowExecutionCanceledEventAttributes,
        e.childWorkflowExecutionTerminatedEventAttributes,
        e.childWorkflowExecutionTimedOutEventAttributes,
      ].some((a) => a?.workflowExecution?.workflowId === childId),
    );

  const check = async (childId: string) => {
    const child = await env.client.workflow.getHandle(childId).describe();
    if (child.status.name === 'RUNNING') return;
    // Only these close paths take the lock ("... notify parent"); a terminated or timed-out child takes none.
    if (!['COMPLETED', 'FAILED', 'CANCELLED'].includes(child.status.name)) {
      decided.add(childId);
      return;
    }
    const parent = child.raw.workflowExecutionInfo?.parentExecution;
    if (!parent?.workflowId || !parent.runId) {
      decided.add(childId);
      return;
    }
    const run = env.client.workflow.getHandle(parent.workflowId, parent.runId);
    let history = parentHistories.get(parent.runId);
    if (!history) {
      // Decide only once the parent run is closed: while it runs, the notification still reaches it.
      if ((await run.describe()).status.name === 'RUNNING') return;
      history = await run.fetchHistory();
      parentHistories.set(parent.runId, history);
    }
    decided.add(childId);
    if (recorded(history, childId)) return;
    await env.connection.testService?.unlockTimeSkipping({});
    released += 1;
  };

  const loop = (async () => {
    while (!stopped) {
      await refresh();
      for (const id of known) {
        if (stopped) break;
        if (decided.has(id)) continue;
        await check(id).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();

  return {
    get released() {
      return released;
    },
    /** After a last pass: a lock leaked by a child that closed just now would stop time in the next test. */
    async stop() {
      stopped = true;
      await loop;
      await refresh();
      for (const id of known) if (!decided.has(id)) await check(id).catch(() => undefined);
    },
  };
}

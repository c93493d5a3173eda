// An upgrade with runs in flight: runs started on the released v0.1.0 workflow code (kept verbatim under
// test/fixtures/workflows-v0.1.0) are picked up by a worker with today's code, which changed the commands of
// the finish (a tracked batch no longer deletes its provider files). patched() keeps each run consistent with
// its own history: no nondeterminism, nothing lost, each run finishes once.
import { ApplicationFailure } from '@temporalio/common';
import { join } from 'node:path';
import { batchWorkflowId, statusQuery, type BatchOutcome } from '../../workflows/contract';
import type { WorkerActivities } from '../../workflows/shared/activity-types';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { uniqueTaskQueue, withWorker } from '../helpers/worker';
import { workflowBundle } from '../helpers/workflow-bundle';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());
const V010 = join(__dirname, '..', 'fixtures', 'workflows-v0.1.0');
const HOUR = 3600;

/** One deploy: a worker of the given workflow code on the run's task queue; no cache, so every task replays. */
function deploy<T>(
  taskQueue: string,
  code: { code: string },
  activities: WorkerActivities,
  fn: () => Promise<T>,
): Promise<T> {
  return withWorker(env, activities, fn, {
    taskQueue,
    worker: { workflowBundle: code, maxCachedWorkflows: 0 },
  });
}

test("runs started on v0.1.0 finish on today's code: mid-poll runs take the new rule, a run mid-finish keeps its old road", async () => {
  const [oldCode, newCode] = [await workflowBundle(V010), await workflowBundle()];

  // Run A: upgraded while polling. The finish runs on the new code: a tracked batch keeps its files.
  const a = newFake({ id: 'batch_upg_poll', total: 100, runSeconds: 6 * HOUR });
  const tqA = uniqueTaskQueue('upgrade-a');
  const handleA = await deploy(tqA, oldCode, a.activities(), async () => {
    const h = await env.client.workflow.start('batchLifecycle', {
      taskQueue: tqA,
      workflowId: batchWorkflowId(a.plan.id),
      args: [{ batchId: a.plan.id, provider: 'fake' }],
    });
    await env.sleep('2 hours');
    return h;
  });
  const polledOnOld = a.count('retrieve');
  expect(polledOnOld).toBeGreaterThan(3);
  const outcomeA = await deploy(tqA, newCode, a.activities(), async () => {
    // The new code answers queries of the old run (replayed), with the new view's fields.
    expect((await handleA.query(statusQuery)).snapshot?.status).toBe('in_progress');
    return (await handleA.result()) as BatchOutcome;
  });
  expect(outcomeA.status).toBe('completed');
  expect(outcomeA.billing.billed).toBe(100);
  expect(a.recorded).toHaveLength(1);
  expect(a.deletedFiles).toEqual([]);
  expect(outcomeA.results?.remoteCleanup?.reason).toMatch(/^kept: a tracked batch/);

  // Run B: upgraded after v0.1.0 had scheduled the clean-up (its history holds that command). The new code
  // must schedule it again on replay, or the run would fail with a nondeterminism error; it then completes.
  const b = newFake({ id: 'batch_upg_finish', total: 20, runSeconds: HOUR, failRatio: 0.1 });
  const tqB = uniqueTaskQueue('upgrade-b');
  let cleanupScheduled = false;
  const stalled: WorkerActivities = {
    ...b.activities(),
    cleanupRemoteFiles: async () => {
      cleanupScheduled = true;
      throw ApplicationFailure.retryable('provider busy (scripted)');
    },
  };
  const handleB = await deploy(tqB, oldCode, stalled, async () => {
    const h = await env.client.workflow.start('batchLifecycle', {
      taskQueue: tqB,
      workflowId: batchWorkflowId(b.plan.id),
      args: [{ batchId: b.plan.id, provider: 'fake' }],
    });
    for (let i = 0; i < 200 && !cleanupScheduled; i++) await env.sleep('1 minute');
    return h;
  });
  expect(cleanupScheduled).toBe(true);
  const outcomeB = await deploy(
    tqB,
    newCode,
    b.activities(),
    async () => (await handleB.result()) as BatchOutcome,
  );
  expect(outcomeB.status).toBe('completed');
  expect(b.recorded).toHaveLength(1);
  expect(b.deletedFiles.sort()).toEqual(['file-err', 'file-input', 'file-out']);
  // The old run's results record has no reason field: it was decided by v0.1.0's rule.
  expect(outcomeB.results?.remoteCleanup).toBeUndefined();
});

// Recorded scenarios: run on the time-skipping server, their histories kept as replay fixtures.
import type { WorkflowHandle } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../../src/emulator';
import { batchLifecycle, submitBatch } from '../../workflows';
import { batchWorkflowId, cancelSignal, submitStatusQuery, submitWorkflowId } from '../../workflows/contract';
import { watchOrphanedChildLocks } from './child-lock-watcher';
import { FAST_EMULATOR, emulatorActivities } from './emulator-activities';
import { FakeFleet } from './fake-fleet';
import { FakeProvider } from './fake-provider';
import { recordV03Scenarios } from './scenarios-v0.3';
import { uniqueTaskQueue, withWorker } from './worker';

const HOUR = 3600;

export interface RecordedScenario {
  name: string;
  workflowId: string;
  history: History;
}

export async function recordScenarios(
  env: TestWorkflowEnvironment,
  suffix = '',
  options: { all?: boolean } = {},
): Promise<RecordedScenario[]> {
  const clock = () => env.currentTimeMs();
  const out: RecordedScenario[] = [];

  const completed = new FakeProvider(
    { id: `batch_rec_done${suffix}`, total: 300, runSeconds: 6 * HOUR, failRatio: 0.1 },
    clock,
  );
  await withWorker(env, completed.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(completed.plan.id),
      args: [{ batchId: completed.plan.id, provider: 'fake' }],
    });
    await handle.result();
    out.push({ name: 'completed', workflowId: handle.workflowId, history: await handle.fetchHistory() });
  });

  const cancelled = new FakeProvider(
    { id: `batch_rec_cancel${suffix}`, total: 300, runSeconds: 6 * HOUR },
    clock,
  );
  await withWorker(env, cancelled.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(cancelled.plan.id),
      args: [{ batchId: cancelled.plan.id, provider: 'fake' }],
    });
    await env.sleep('2 hours');
    await handle.signal(cancelSignal, { reason: 'recorded', requestedBy: 'fixtures' });
    await handle.signal(cancelSignal, { reason: 'duplicate' });
    await handle.result();
    out.push({
      name: 'signal-cancelled',
      workflowId: handle.workflowId,
      history: await handle.fetchHistory(),
    });
  });

  const wfCancelled = new FakeProvider(
    { id: `batch_rec_wfc${suffix}`, total: 300, runSeconds: 6 * HOUR },
    clock,
  );
  await withWorker(env, wfCancelled.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(wfCancelled.plan.id),
      args: [{ batchId: wfCancelled.plan.id, provider: 'fake' }],
    });
    await env.sleep('1 hour');
    await handle.cancel();
    await handle.result().catch(() => undefined);
    out.push({
      name: 'workflow-cancelled',
      workflowId: handle.workflowId,
      history: await handle.fetchHistory(),
    });
  });
  if (options.all) {
    out.push(...(await recordMoreScenarios(env, suffix)));
    out.push(...(await recordV03Scenarios(env, suffix)));
  }
  return out;
}

/**
 * Every other path: a carried run, a too-late cancel, paused tracking, a submission with a resubmission round, a
 * submission that continued as new, a batch whose last report is refused, a submission's cancel finding a batch
 * workflow gone.
 */
async function recordMoreScenarios(
  env: TestWorkflowEnvironment,
  suffix: string,
): Promise<RecordedScenario[]> {
  const clock = () => env.currentTimeMs();
  const out: RecordedScenario[] = [];
  const history = async (name: string, handle: WorkflowHandle, runId?: string): Promise<History> => {
    const h = runId ? env.client.workflow.getHandle(handle.workflowId, runId) : handle;
    const recorded = await h.fetchHistory();
    out.push({ name, workflowId: handle.workflowId, history: recorded });
    return recorded;
  };

  const long = new FakeProvider(
    {
      id: `batch_rec_can${suffix}`,
      total: 5000,
      profile: 'dashscope',
      windowSeconds: 120 * HOUR,
      runSeconds: 110 * HOUR,
    },
    clock,
  );
  await withWorker(env, long.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(long.plan.id),
      args: [{ batchId: long.plan.id, provider: 'fake' }],
    });
    await handle.result();
    let runId: string | undefined = handle.firstExecutionRunId;
    for (let n = 1; runId; n++) {
      const recorded: History = await history(`continue-as-new-run${n}`, handle, runId);
      const last = recorded.events?.[recorded.events.length - 1];
      runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
  });

  const late = new FakeProvider({ id: `batch_rec_late${suffix}`, total: 10, runSeconds: 600 }, clock);
  let release: () => void = () => undefined;
  late.recordGate = new Promise<void>((resolve) => (release = resolve));
  await withWorker(env, late.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(late.plan.id),
      args: [{ batchId: late.plan.id, provider: 'fake' }],
    });
    while (late.recorded.length === 0) await env.sleep('3 seconds');
    await handle.signal(cancelSignal, { reason: 'late' });
    release();
    await handle.result();
    await history('cancel-too-late', handle);
  });

  // The key rotated away mid-run, then a valid one deployed: paused, then resumed (two workers, no cache).
  const paused = new FakeProvider(
    { id: `batch_rec_paused${suffix}`, total: 50, runSeconds: 2 * HOUR },
    clock,
  );
  const taskQueue = uniqueTaskQueue('rec-paused');
  const deploy = (key: string | undefined, fn: () => Promise<void>) =>
    withWorker(env, paused.activities('fake', 'FAKE_PROVIDER_KEY', { key }), fn, {
      taskQueue,
      worker: { maxCachedWorkflows: 0 },
    });
  const pausedHandle = await env.client.workflow.start(batchLifecycle, {
    taskQueue,
    workflowId: batchWorkflowId(paused.plan.id),
    args: [{ batchId: paused.plan.id, provider: 'fake' }],
  });
  await deploy(undefined, () => env.sleep('10 minutes'));
  await deploy('sk-revoked', () => env.sleep('40 minutes'));
  await deploy(undefined, async () => {
    await pausedHandle.result();
  });
  await history('access-paused-then-resumed', pausedHandle);

  const dir = mkdtempSync(join(tmpdir(), 'bk-rec-'));
  const emu = await startEmulator({ ...FAST_EMULATOR, apiKey: 'sk-rec', failureRate: 0.3 });
  try {
    const path = join(dir, 'in.jsonl');
    const line = (i: number) =>
      JSON.stringify({
        custom_id: `q-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] },
      });
    writeFileSync(path, Array.from({ length: 40 }, (_, i) => line(i)).join('\n') + '\n');
    await withWorker(env, emulatorActivities(emu, dir), async (tq) => {
      const handle = await env.client.workflow.start(submitBatch, {
        taskQueue: tq,
        workflowId: submitWorkflowId(`rec-several${suffix}`),
        args: [
          {
            provider: 'emu',
            submission: { source: { path }, endpoint: '/v1/chat/completions', limits: { maxLines: 15 } },
            pollPolicy: { initialIntervalSeconds: 1, maxIntervalSeconds: 2 },
            resubmit: { rounds: 1 },
          },
        ],
      });
      const outcome = await handle.result();
      await history('submission-several-children-resubmitted', handle);
      await history(
        'batch-with-parent-submission',
        env.client.workflow.getHandle(outcome.batches[0].workflowId),
      );
    });
  } finally {
    await emu.close();
  }

  // A submission that continued as new: its first run (batches started, state carried on) and its last (outcomes
  // learnt from the reports of batches an earlier run started).
  const fleet = new FakeFleet(
    `rec_can_submit${suffix}`,
    Array.from({ length: 8 }, (_, i) => ({ total: 100, runSeconds: (10 + i) * HOUR, failRatio: 0.1 })),
    clock,
  );
  const watcher = watchOrphanedChildLocks(env, () => [...fleet.fakes.keys()].map(batchWorkflowId));
  try {
    await withWorker(env, fleet.activities(), async (tq) => {
      const handle = await env.client.workflow.start(submitBatch, {
        taskQueue: tq,
        workflowId: submitWorkflowId(`rec-continued${suffix}`),
        args: [
          {
            provider: 'fake',
            submission: { source: { path: '/fake/rec-continued.jsonl' }, endpoint: '/v1/chat/completions' },
            results: { download: false },
            continueAsNewAfterEvents: 100,
          },
        ],
      });
      const outcome = await handle.result();
      // One at a time: concurrent result() calls would unbalance the test server's time-skipping locks.
      for (const b of outcome.batches) await env.client.workflow.getHandle(b.workflowId).result();
      const first = await history(
        'submission-continued-as-new-first-run',
        handle,
        handle.firstExecutionRunId,
      );
      if (!first.events?.[first.events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes) {
        throw new Error('the submission scenario was meant to continue as new, and did not');
      }
      await history('submission-continued-as-new-last-run', handle, (await handle.describe()).runId);
    });
  } finally {
    await watcher.stop();
  }

  // A batch whose parent is not found when it reports its outcome: the last report is retried, then it ends.
  const orphan = new FakeProvider(
    { id: `batch_rec_orphan${suffix}`, total: 100, runSeconds: 2 * HOUR },
    clock,
  );
  await withWorker(env, orphan.activities(), async (tq) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue: tq,
      workflowId: batchWorkflowId(orphan.plan.id),
      args: [
        {
          batchId: orphan.plan.id,
          provider: 'fake',
          parent: {
            workflowId: submitWorkflowId(`rec-gone${suffix}`),
            chunkIndex: 0,
            round: 0,
            inputPath: null,
          },
        },
      ],
    });
    await handle.result();
    await history('batch-last-report-refused', handle);
  });

  // After a continue-as-new, a batch workflow terminated by hand: the submission's cancel finds it gone.
  const gone = new FakeFleet(
    `rec_gone${suffix}`,
    Array.from({ length: 12 }, () => ({ total: 100, windowSeconds: 48 * HOUR, runSeconds: 40 * HOUR })),
    clock,
  );
  const goneWatcher = watchOrphanedChildLocks(env, () => [...gone.fakes.keys()].map(batchWorkflowId));
  try {
    await withWorker(env, gone.activities(), async (tq) => {
      const handle = await env.client.workflow.start(submitBatch, {
        taskQueue: tq,
        workflowId: submitWorkflowId(`rec-cancel-finds-gone${suffix}`),
        args: [
          {
            provider: 'fake',
            submission: { source: { path: '/fake/rec-gone.jsonl' }, endpoint: '/v1/chat/completions' },
            results: { download: false },
            pollPolicy: { maxIntervalSeconds: 6 * HOUR },
            continueAsNewAfterEvents: 100,
          },
        ],
      });
      await env.sleep('2 hours');
      const view = await handle.query(submitStatusQuery);
      const terminated = view.batches.find((b) => b.chunkIndex === 0)?.workflowId as string;
      await env.client.workflow.getHandle(terminated).terminate('recorded: terminated by hand');
      await handle.signal(cancelSignal, { reason: 'recorded' });
      await handle.result().catch(() => undefined);
      for (const b of view.batches.filter((x) => x.workflowId !== terminated))
        await env.client.workflow.getHandle(b.workflowId).result();
      // The run in which the cancel found the batch workflow gone (a failed signal to it).
      let runId: string | undefined = handle.firstExecutionRunId;
      while (runId) {
        const run: History = await env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
        const events = run.events ?? [];
        if (events.some((e) => e.signalExternalWorkflowExecutionFailedEventAttributes)) {
          out.push({
            name: 'submission-cancel-finds-batch-gone',
            workflowId: handle.workflowId,
            history: run,
          });
          break;
        }
        runId =
          events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ??
          undefined;
      }
      if (!runId) throw new Error('the scenario was meant to find a batch workflow gone, and did not');
    });
  } finally {
    await goneWatcher.stop();
  }
  return out;
}

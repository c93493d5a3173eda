// Submissions whose history would outgrow Temporal's limits: many batches over long windows, on the time-skipping
// server with scripted batches (FakeFleet) through the real retrieve, cancel and ledger activities.
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toSnapshot } from '../../activities';
import { startEmulator } from '../../src/emulator';
import { batchLifecycle, submitBatch } from '../../workflows';
import {
  batchWorkflowId,
  cancelSignal,
  submitStatusQuery,
  submitWorkflowId,
  type BatchOutcome,
  type SubmitOutcome,
  type SubmitWorkflowInput,
} from '../../workflows/contract';
import { ZERO_BILLING, addBilling, computeBilling } from '../../workflows/shared/billing';
import { childProgressSignal } from '../../workflows/shared/child-progress';
import { watchOrphanedChildLocks } from '../helpers/child-lock-watcher';
import { FAST_EMULATOR, emulatorActivities } from '../helpers/emulator-activities';
import { FakeFleet, type FleetPlan } from '../helpers/fake-fleet';
import { FakeProvider } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';
import { workflowBundle } from '../helpers/workflow-bundle';

// A server per test: a test server whose time-skipping locks a test left unbalanced would stall the next one.
const env = useTimeSkippingEnv({ perTest: true });
const HOUR = 3600;
const clock = () => env.currentTimeMs();

/** `n` batches of a 336 h window, each running a different length of it. */
function longPlans(n: number, runHours: (i: number) => number): FleetPlan[] {
  return Array.from({ length: n }, (_, i) => ({
    total: 1000 + 100 * i,
    windowSeconds: 336 * HOUR,
    runSeconds: runHours(i) * HOUR,
    failRatio: 0.02,
  }));
}

function submission(name: string, extra: Partial<SubmitWorkflowInput> = {}): SubmitWorkflowInput {
  return {
    provider: 'fake',
    submission: {
      source: { path: `/fake/${name}.jsonl` },
      endpoint: '/v1/chat/completions',
      completionWindow: '336h',
    },
    results: { download: false },
    // Fewer polls of each batch over the long window: the submission's history is what is under test.
    pollPolicy: { maxIntervalSeconds: 6 * HOUR },
    ...extra,
  };
}

/** Runs `fn` on a worker with the fleet's activities, time skipping kept going (see child-lock-watcher). */
async function withFleet<T>(
  fleet: FakeFleet,
  fn: (taskQueue: string) => Promise<T>,
  options: Parameters<typeof withWorker>[3] = {},
): Promise<T> {
  const watcher = watchOrphanedChildLocks(env, () => [...fleet.fakes.keys()].map(batchWorkflowId));
  try {
    return await withWorker(env, fleet.activities(), fn, options);
  } finally {
    await watcher.stop();
  }
}

/** Every run of a continue-as-new chain, first to last. */
async function runs(workflowId: string, firstRunId: string): Promise<History[]> {
  const out: History[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: History = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    out.push(history);
    const events = history.events ?? [];
    runId =
      events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ??
      undefined;
  }
  return out;
}

/**
 * The batch workflows' own results: what the submission's totals must add up to. One at a time: the test client
 * unlocks time skipping around each result(), and concurrent unlocks would unbalance the server's lock count.
 */
async function childOutcomes(outcome: SubmitOutcome): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = [];
  for (const b of outcome.batches)
    out.push(await env.client.workflow.getHandle<typeof batchLifecycle>(b.workflowId).result());
  return out;
}

test('12 batches over a 336 h window: the submission continues as new and ends with every outcome, billed as its batches were', async () => {
  const fleet = new FakeFleet(
    'long',
    longPlans(12, (i) => 20 + 25 * i),
    clock,
  );
  const { outcome, histories, children } = await withFleet(fleet, async (taskQueue) => {
    const handle = await env.client.workflow.start(submitBatch, {
      taskQueue,
      workflowId: submitWorkflowId('long'),
      args: [submission('long', { continueAsNewAfterEvents: 150 })],
    });
    const result = await handle.result();
    return {
      outcome: result,
      histories: await runs(handle.workflowId, handle.firstExecutionRunId),
      children: await childOutcomes(result),
    };
  });

  expect(histories.length).toBeGreaterThan(1);
  expect(outcome.runs).toBe(histories.length);
  expect(outcome.status).toBe('completed');
  expect(outcome.batches).toHaveLength(12);
  expect(new Set(outcome.batches.map((b) => b.batchId)).size).toBe(12);
  expect(fleet.creates).toBe(12);
  for (const [i, b] of outcome.batches.entries()) {
    expect(b.outcome).toEqual(children[i]);
    expect(b.status).toBe('completed');
  }
  // The submission's totals are its batches' totals: each counted once, whichever run learned it.
  const sum = children.reduce((acc, o) => addBilling(acc, o.billing), ZERO_BILLING);
  expect(outcome.billing).toEqual(sum);
  expect(outcome.billing.total).toBe(fleet.totalRequests);
  expect(outcome.billing.billed + outcome.billing.failed).toBe(fleet.totalRequests);
  expect(outcome.rounds).toEqual([{ round: 0, batches: 12, billing: sum }]);
  expect(fleet.recorded.map((r) => r.outcome.batchId).sort()).toEqual(
    outcome.batches.map((b) => b.batchId).sort(),
  );
  // Every run stays near the threshold; a handful of reports per batch, not one an hour.
  for (const h of histories) expect(h.events?.length).toBeLessThan(150 + 120);
  const signals = histories
    .flatMap((h) => h.events ?? [])
    .filter((e) => e.workflowExecutionSignaledEventAttributes).length;
  expect(signals).toBeLessThanOrEqual(12 * 4);
  // Each run replays: the carried state and the commands after continue-as-new are deterministic.
  for (const h of histories) await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, h);
});

test('cancelled after it continued as new: the cancel reaches every batch, whichever run started it', async () => {
  const fleet = new FakeFleet(
    'cancel-late',
    longPlans(12, () => 300),
    clock,
  );
  const { outcome, children, view } = await withFleet(fleet, async (taskQueue) => {
    const handle = await env.client.workflow.start(submitBatch, {
      taskQueue,
      workflowId: submitWorkflowId('cancel-late'),
      args: [submission('cancel-late', { continueAsNewAfterEvents: 100 })],
    });
    await env.sleep('10 hours');
    const before = await handle.query(submitStatusQuery);
    await handle.signal(cancelSignal, { reason: 'over budget', requestedBy: 'jest' });
    const result = await handle.result();
    return { outcome: result, children: await childOutcomes(result), view: before };
  });

  // The cancel came after a continue-as-new, with every batch started and running.
  expect(view.run).toBeGreaterThan(1);
  expect(view.batches).toHaveLength(12);
  expect(view.batches.every((b) => b.status === 'in_progress')).toBe(true);
  expect(outcome.status).toBe('cancelled');
  expect(outcome.cancel).toMatchObject({ reason: 'over budget', requestedBy: 'jest', source: 'signal' });
  expect(outcome.batches).toHaveLength(12);
  for (const fake of fleet.fakes.values()) expect(fake.count('cancel')).toBe(1);
  for (const [i, b] of outcome.batches.entries()) {
    expect(b.outcome).toEqual(children[i]);
    expect(b.outcome?.status).toBe('cancelled');
    expect(b.outcome?.cancel?.reason).toBe('over budget');
  }
  const sum = children.reduce((acc, o) => addBilling(acc, o.billing), ZERO_BILLING);
  expect(outcome.billing).toEqual(sum);
  // Cancelled after about 10 h of 300: most requests never ran, and are not billed.
  expect(outcome.billing.notRun).toBeGreaterThan(outcome.billing.billed);
  expect(outcome.billing.total).toBe(fleet.totalRequests);
});

test('a cancel that lands with the last outcomes: the submission closes only once the cancel reached every batch', async () => {
  const fleet = new FakeFleet(
    'handlers',
    longPlans(12, () => 300),
    clock,
  );
  const workflowId = submitWorkflowId('handlers');
  // The batches run, and the submission continues as new after it created the last one.
  const { taskQueue, runId } = await withFleet(
    fleet,
    async (tq) => {
      const started = await env.client.workflow.start(submitBatch, {
        taskQueue: tq,
        workflowId,
        args: [submission('handlers', { continueAsNewAfterEvents: 100 })],
      });
      await env.sleep('10 minutes');
      const view = await started.query(submitStatusQuery);
      expect(view.batches.map((b) => b.status)).toEqual(Array(12).fill('in_progress'));
      return { taskQueue: tq, runId: (await started.describe()).runId };
    },
    // No workflow cache: the stopped worker leaves no sticky queue for the next workflow task to wait on.
    { worker: { maxCachedWorkflows: 0 } },
  );
  const current = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  // So nothing is left for this run to wait on but reports (no batch workflow of its own to see close).
  expect(current.events?.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toBe(false);

  // No worker now: a cancel, then every batch's last report, all in the submission's next workflow task. The
  // cancel handler starts forwarding to 12 running batches; the reports then end the last round at once.
  const handle = env.client.workflow.getHandle<typeof submitBatch>(workflowId);
  await handle.signal(cancelSignal, { reason: 'late', requestedBy: 'jest' });
  const now = Math.floor((await env.currentTimeMs()) / 1000);
  for (const [batchId, fake] of fleet.fakes) {
    const snapshot = { ...toSnapshot(fake.stateAt(now)), status: 'completed' as const };
    const outcome: BatchOutcome = {
      batchId,
      provider: 'fake',
      status: 'completed',
      billing: computeBilling(snapshot),
      errors: [],
      cancel: null,
      snapshot,
      providerCalls: 1,
      runs: 1,
      results: null,
      resultsError: null,
    };
    await handle.signal(childProgressSignal, {
      batchId,
      workflowId: batchWorkflowId(batchId),
      chunkIndex: 0,
      round: 0,
      status: 'completed',
      requestCounts: snapshot.requestCounts,
      outcome,
    });
  }

  // Another worker takes over the task queue.
  const { outcome, last } = await withFleet(
    fleet,
    async () => {
      const result = await handle.result();
      // The batches got the cancel: they end (cancelled at the provider) before this worker stops.
      for (const id of fleet.fakes.keys()) await env.client.workflow.getHandle(batchWorkflowId(id)).result();
      const { runId: lastRun } = await handle.describe();
      return {
        outcome: result,
        last: await env.client.workflow.getHandle(workflowId, lastRun).fetchHistory(),
      };
    },
    { taskQueue },
  );
  expect(outcome.status).toBe('cancelled');
  expect(outcome.batches.every((b) => b.outcome?.status === 'completed')).toBe(true);
  // Each forwarded cancel was delivered while the submission was still open: it waited for its cancel handler.
  const events = last.events ?? [];
  const forwarded = events.filter(
    (e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'cancel',
  );
  const delivered = events.filter((e) => e.externalWorkflowExecutionSignaledEventAttributes);
  expect(forwarded).toHaveLength(12);
  expect(delivered).toHaveLength(12);
  expect(events[events.length - 1].workflowExecutionCompletedEventAttributes).toBeTruthy();
  for (const fake of fleet.fakes.values()) expect(fake.count('cancel')).toBe(1);
});

test('a submission started before bounded history finishes on its old road after the deploy', async () => {
  const fleet = new FakeFleet(
    'deploy',
    longPlans(4, (i) => 24 + 6 * i),
    clock,
  );
  const workflowId = submitWorkflowId('deploy');
  const input = submission('deploy', {
    continueAsNewAfterEvents: 100,
    pollPolicy: { maxIntervalSeconds: HOUR },
  });
  // The old code: no patch activates, as in a run that started before they existed.
  const { taskQueue, firstRunId, atDeploy } = await withFleet(
    fleet,
    async (tq) => {
      const started = await env.client.workflow.start(submitBatch, {
        taskQueue: tq,
        workflowId,
        args: [input],
      });
      await env.sleep('6 hours');
      const { historyLength } = await started.describe();
      return { taskQueue: tq, firstRunId: started.firstExecutionRunId, atDeploy: historyLength };
    },
    { worker: { maxCachedWorkflows: 0, patchActivationCallback: () => false } },
  );
  // The new code takes over.
  const handle = env.client.workflow.getHandle<typeof submitBatch>(workflowId);
  const { outcome, histories, children } = await withFleet(
    fleet,
    async () => {
      const result = await handle.result();
      return {
        outcome: result,
        histories: await runs(workflowId, firstRunId),
        children: await childOutcomes(result),
      };
    },
    { taskQueue },
  );
  expect(outcome.status).toBe('completed');
  expect(outcome.billing).toEqual(children.reduce((acc, o) => addBilling(acc, o.billing), ZERO_BILLING));
  // One run well past the threshold: a run that started its batches with REQUEST_CANCEL never continues as new.
  expect(histories).toHaveLength(1);
  const events = histories[0].events ?? [];
  expect(events.length).toBeGreaterThan(100);
  const starts = events.flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes ?? []);
  expect(starts).toHaveLength(4);
  for (const s of starts) {
    expect(s.parentClosePolicy).toBe(
      temporal.api.enums.v1.ParentClosePolicy.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
    );
  }
  // Its batches, on the new code too, kept reporting hourly (18 to 36 more hours each), as their parent expects.
  const reports = events
    .slice(atDeploy)
    .filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'childProgress');
  expect(reports.length).toBeGreaterThan(4 * 15);
  for (const h of histories) await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, h);
});

test('a resubmission round across continue-as-new: exactly the failed lines run again, totals kept apart', async () => {
  // Real files and the real activities on the emulator: the carried staging paths and resubmission cursor are used.
  const emu = await startEmulator({ ...FAST_EMULATOR, apiKey: 'sk-history', failureRate: 0.5 });
  const dir = mkdtempSync(join(tmpdir(), 'bk-history-'));
  try {
    const path = join(dir, 'resubmit.jsonl');
    const line = (i: number) => ({
      custom_id: `q-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] },
    });
    writeFileSync(path, Array.from({ length: 120 }, (_, i) => JSON.stringify(line(i))).join('\n') + '\n');
    const workflowId = submitWorkflowId('resubmit-history');
    // The batch workflows, as they are created (for the lock watcher; querying the submission would need a worker).
    const activities = emulatorActivities(emu, dir);
    const children: string[] = [];
    const createBatch: typeof activities.createBatch = async (input) => {
      const created = await activities.createBatch(input);
      children.push(batchWorkflowId(created.snapshot.id));
      return created;
    };
    const watcher = watchOrphanedChildLocks(env, () => children);
    const { outcome, histories } = await withWorker(
      env,
      { ...activities, createBatch },
      async (taskQueue) => {
        const started = await env.client.workflow.start(submitBatch, {
          taskQueue,
          workflowId,
          args: [
            {
              provider: 'emu',
              // 24 batches: looking for their failed lines takes two activities each, more than a run holds.
              submission: { source: { path }, endpoint: '/v1/chat/completions', limits: { maxLines: 5 } },
              pollPolicy: { initialIntervalSeconds: 1, maxIntervalSeconds: 2 },
              resubmit: { rounds: 1 },
              continueAsNewAfterEvents: 100,
            },
          ],
        });
        const result = await started.result();
        // Every batch workflow ends before the worker goes (a run that continued as new does not wait for them).
        for (const b of result.batches) await env.client.workflow.getHandle(b.workflowId).result();
        return { outcome: result, histories: await runs(workflowId, started.firstExecutionRunId) };
      },
    ).finally(() => watcher.stop());

    expect(outcome.runs).toBe(histories.length);
    // The resubmission was built across a continue-as-new: the carried cursor and staging paths were used.
    const building = histories.filter((h) =>
      (h.events ?? []).some(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'buildResubmission',
      ),
    );
    for (const h of histories)
      console.log(
        'RUN',
        h.events?.length,
        (h.events ?? [])
          .flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [])
          .join(','),
      );
    expect(building.length).toBeGreaterThan(1);
    const [first, second] = outcome.rounds;
    expect(first).toMatchObject({ round: 0, batches: 24 });
    expect(first.billing.total).toBe(120);
    expect(first.billing.failed).toBeGreaterThan(0);
    expect(second.round).toBe(1);
    expect(second.billing.total).toBe(first.billing.failed);
    expect(outcome.billing).toEqual(first.billing);
    for (const r of outcome.rounds) {
      const mine = outcome.batches.filter((b) => b.round === r.round);
      expect(mine).toHaveLength(r.batches);
      expect(r.billing).toEqual(
        mine.reduce((acc, b) => addBilling(acc, b.outcome?.billing ?? ZERO_BILLING), ZERO_BILLING),
      );
    }
  } finally {
    await emu.close();
  }
});

test('a batch workflow terminated by hand after the submission continued as new: its cancel finds it closed, and the submission ends', async () => {
  const fleet = new FakeFleet(
    'terminated',
    longPlans(12, () => 300),
    clock,
  );
  const err = await withFleet(fleet, async (taskQueue) => {
    const handle = await env.client.workflow.start(submitBatch, {
      taskQueue,
      workflowId: submitWorkflowId('terminated'),
      args: [submission('terminated', { continueAsNewAfterEvents: 100 })],
    });
    await env.sleep('10 hours');
    const view = await handle.query(submitStatusQuery);
    expect(view.run).toBeGreaterThan(1);
    // The first batch was started by the first run, which is closed: no completion of it can reach this run.
    const gone = view.batches.find((b) => b.chunkIndex === 0)?.workflowId as string;
    await env.client.workflow.getHandle(gone).terminate('by hand');
    await handle.signal(cancelSignal, { reason: 'stop', requestedBy: 'jest' });
    const failed = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    for (const b of view.batches.filter((x) => x.workflowId !== gone))
      await env.client.workflow.getHandle(b.workflowId).result();
    return { failed, gone };
  });
  // It fails naming the batch workflow that never reported, after every other batch was cancelled and billed.
  expect(err.failed).toBeInstanceOf(WorkflowFailedError);
  const cause = (err.failed as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('BatchWorkflowFailed');
  expect(cause.message).toBe(
    `batch workflow ${err.gone} failed: the batch workflow closed without reporting an outcome`,
  );
  expect([...fleet.fakes.values()].filter((f) => f.count('cancel') === 1)).toHaveLength(11);
  expect(fleet.recorded).toHaveLength(11);
});

test("a batch's last report is retried while its parent is not found (between two runs, or gone); the batch ends all the same", async () => {
  const fake = new FakeProvider({ id: 'batch_orphan', total: 100, runSeconds: 2 * HOUR }, clock);
  const { outcome, history } = await withWorker(env, fake.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId('batch_orphan'),
      args: [
        {
          batchId: 'batch_orphan',
          provider: 'fake',
          parent: { workflowId: submitWorkflowId('never-started'), chunkIndex: 0, round: 0, inputPath: null },
        },
      ],
    });
    return { outcome: await handle.result(), history: await handle.fetchHistory() };
  });
  expect(outcome.status).toBe('completed');
  expect(fake.recorded).toHaveLength(1);
  // Status changes are sent once each; the last report (after the ledger recorded the outcome) five times.
  const events = history.events ?? [];
  const recordedAt = events.findIndex(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'recordOutcome',
  );
  const after = events.slice(recordedAt);
  expect(after.filter((e) => e.signalExternalWorkflowExecutionFailedEventAttributes)).toHaveLength(5);
  expect(after.filter((e) => e.timerFiredEventAttributes)).toHaveLength(4);
  const before = events.slice(0, recordedAt);
  expect(before.filter((e) => e.signalExternalWorkflowExecutionFailedEventAttributes).length).toBe(
    before.filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes).length,
  );
});

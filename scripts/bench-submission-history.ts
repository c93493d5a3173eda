// Benchmark of a submission's history on the time-skipping server, with scripted batches (FakeFleet) through the
// real retrieve, cancel and ledger activities:
//  - 20 batches over a 336 h window on the road of runs started before bounded history (hourly progress reports,
//    no continue-as-new) and on the new one, side by side: the per-batch cost before and after. Batches poll at
//    most hourly here: the old road reports at most hourly, and only when it polls.
//  - 100 and 400 batches over 336 h on the new road: events per run (goal: none above 10,000), runs, wall time.
//    The new road's events do not depend on how often batches poll, so they poll at most every 6 h (wall time).
// Batches finish spread over the window (12 h to 330 h) and 2 % of their requests fail.
// Run: npm run bench:submission-history
import type { History } from '@temporalio/common/lib/proto-utils';
import { watchOrphanedChildLocks } from '../test/helpers/child-lock-watcher';
import { FakeFleet } from '../test/helpers/fake-fleet';
import { createTimeSkippingEnv } from '../test/helpers/temporal-env';
import { withWorker } from '../test/helpers/worker';
import { submitBatch } from '../workflows';
import { PATCH_REPORT_OUTCOME_TO_PARENT } from '../workflows/batch/parent-reports';
import { batchWorkflowId, submitWorkflowId } from '../workflows/contract';
import { PATCH_BOUNDED_HISTORY, PATCH_WAIT_FOR_HANDLERS } from '../workflows/submission/submit-batch';

const HOUR = 3600;
const WINDOW_HOURS = 336;
const HISTORY_LIMIT = 51_200;
/** The patches that make up bounded history: a worker that activates none of them runs the old road. */
const NEW_PATCHES = [PATCH_BOUNDED_HISTORY, PATCH_WAIT_FOR_HANDLERS, PATCH_REPORT_OUTCOME_TO_PARENT];

interface Row {
  scenario: string;
  batches: number;
  pollCapHours: number;
  runs: number;
  maxEvents: number;
  totalEvents: number;
  signals: number;
  wallSeconds: number;
  billedOk: boolean;
}

async function run(label: string, batches: number, oldRoad: boolean, pollCapHours: number): Promise<Row> {
  const env = await createTimeSkippingEnv();
  try {
    const fleet = new FakeFleet(
      `bench_${oldRoad ? 'old' : 'new'}_${batches}`,
      Array.from({ length: batches }, (_, i) => ({
        total: 1000,
        windowSeconds: WINDOW_HOURS * HOUR,
        // From 12 h to 330 h: finishes spread over the whole window.
        runSeconds: Math.round((12 + (318 * i) / Math.max(1, batches - 1)) * HOUR),
        failRatio: 0.02,
      })),
      () => env.currentTimeMs(),
    );
    const watcher = watchOrphanedChildLocks(env, () => [...fleet.fakes.keys()].map(batchWorkflowId), 200);
    const started = performance.now();
    try {
      return await withWorker(
        env,
        fleet.activities(),
        async (taskQueue) => {
          const handle = await env.client.workflow.start(submitBatch, {
            taskQueue,
            workflowId: submitWorkflowId(fleet.name),
            args: [
              {
                provider: 'fake',
                submission: {
                  source: { path: `/fake/${fleet.name}.jsonl` },
                  endpoint: '/v1/chat/completions',
                  completionWindow: `${WINDOW_HOURS}h`,
                },
                results: { download: false },
                pollPolicy: { maxIntervalSeconds: pollCapHours * HOUR },
              },
            ],
          });
          const outcome = await handle.result();
          const wallSeconds = (performance.now() - started) / 1000;
          // Every batch workflow ends before the worker stops (a run that continued as new does not wait for them).
          for (const b of outcome.batches) await env.client.workflow.getHandle(b.workflowId).result();
          const lengths: number[] = [];
          let signals = 0;
          let runId: string | undefined = handle.firstExecutionRunId;
          while (runId) {
            const history: History = await env.client.workflow
              .getHandle(handle.workflowId, runId)
              .fetchHistory();
            const events = history.events ?? [];
            lengths.push(events.length);
            signals += events.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
            runId =
              events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ??
              undefined;
          }
          const billed = fleet.recorded.reduce((n, r) => n + r.outcome.billing.billed, 0);
          return {
            scenario: label,
            batches,
            pollCapHours,
            runs: lengths.length,
            maxEvents: Math.max(...lengths),
            totalEvents: lengths.reduce((a, b) => a + b, 0),
            signals,
            wallSeconds,
            billedOk: outcome.batches.length === batches && outcome.billing.billed === billed,
          };
        },
        oldRoad
          ? { worker: { patchActivationCallback: ({ patchId }) => !NEW_PATCHES.includes(patchId) } }
          : {},
      );
    } finally {
      await watcher.stop();
    }
  } finally {
    await env.teardown();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push(await run('before: old road (no patch active)', 20, true, 1));
  rows.push(await run('after: bounded history', 20, false, 1));
  rows.push(await run('after: bounded history', 100, false, 6));
  rows.push(await run('after: bounded history', 400, false, 6));
  console.log(
    `\nSubmission history over a ${WINDOW_HOURS} h window (time-skipping server, scripted batches)`,
  );
  console.table(
    rows.map((r) => ({
      scenario: r.scenario,
      batches: r.batches,
      'polls every (max)': `${r.pollCapHours} h`,
      runs: r.runs,
      'max events in a run': r.maxEvents,
      'events (all runs)': r.totalEvents,
      'events per batch': Math.round(r.totalEvents / r.batches),
      'signals received': r.signals,
      'wall time': `${r.wallSeconds.toFixed(1)} s`,
      'outcomes and billing': r.billedOk ? 'ok' : 'MISMATCH',
    })),
  );
  const [before, after] = rows;
  const perBatchBefore = before.totalEvents / before.batches;
  const perBatchAfter = after.totalEvents / after.batches;
  console.log(
    `\nPer batch: ${perBatchBefore.toFixed(0)} events before, ${perBatchAfter.toFixed(0)} after ` +
      `(${(perBatchBefore / perBatchAfter).toFixed(1)}x fewer). Before, one run reached ${HISTORY_LIMIT.toLocaleString('en')} ` +
      `events at about ${Math.floor(HISTORY_LIMIT / perBatchBefore)} batches; after, each run stays near the ` +
      `continue-as-new threshold (3,000) whatever the count: largest run here ${Math.max(...rows.slice(1).map((r) => r.maxEvents))} events.`,
  );
  if (rows.some((r) => !r.billedOk)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

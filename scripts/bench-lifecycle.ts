// Benchmark of the core workflow on the time-skipping server:
//  - wall time of a simulated 24 h lifecycle
//  - history events and provider calls per 24 h batch with the default poll policy
//  - latency (real ms) from the `cancel` signal to the provider's cancel call
// Run: npm run bench:lifecycle
import type { History } from '@temporalio/common/lib/proto-utils';
import { FakeProvider } from '../test/helpers/fake-provider';
import { createTimeSkippingEnv } from '../test/helpers/temporal-env';
import { withWorker } from '../test/helpers/worker';
import { batchLifecycle } from '../workflows';
import { batchWorkflowId, cancelSignal } from '../workflows/contract';

const HOUR = 3600;
const CANCEL_SAMPLES = Number(process.env.BENCH_CANCEL_SAMPLES ?? 30);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const env = await createTimeSkippingEnv();
  const clock = () => env.currentTimeMs();
  try {
    const rows: string[][] = [];
    for (const [label, runHours] of [
      ['24 h batch (23 h run)', 23],
      ['8 h batch', 8],
      ['30 min batch', 0.5],
    ] as const) {
      const fake = new FakeProvider(
        { id: `bench_${runHours}`, total: 10_000, runSeconds: runHours * HOUR },
        clock,
      );
      const started = performance.now();
      const { events, outcome } = await withWorker(env, fake.activities(), async (taskQueue) => {
        const handle = await env.client.workflow.start(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId(fake.plan.id),
          args: [{ batchId: fake.plan.id, provider: 'fake' }],
        });
        const result = await handle.result();
        return { outcome: result, events: (await handle.fetchHistory()).events?.length ?? 0 };
      });
      const wall = performance.now() - started;
      const done = outcome.snapshot.timestamps.completedAt as number;
      const seenLate = fake.calls[fake.calls.length - 1].at - done;
      rows.push([
        label,
        `${(wall / 1000).toFixed(2)} s`,
        String(fake.count('retrieve')),
        String(events),
        `${seenLate} s`,
      ]);
    }
    console.log('\nLifecycle with the default poll policy (time-skipping server)');
    console.table(
      rows.map(([scenario, wall, calls, events, late]) => ({
        scenario,
        'wall time': wall,
        'provider calls': calls,
        'history events': events,
        'terminal seen after': late,
      })),
    );

    // A 336 h DashScope batch: continue-as-new keeps every run small.
    const long = new FakeProvider(
      {
        id: 'bench_336h',
        total: 50_000,
        profile: 'dashscope',
        windowSeconds: 336 * HOUR,
        runSeconds: 330 * HOUR,
      },
      clock,
    );
    const longStarted = performance.now();
    const runs = await withWorker(env, long.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(long.plan.id),
        args: [{ batchId: long.plan.id, provider: 'fake' }],
      });
      await handle.result();
      const lengths: number[] = [];
      let runId: string | null | undefined = handle.firstExecutionRunId;
      while (runId) {
        const history: History = await env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
        const events = history.events ?? [];
        lengths.push(events.length);
        runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      }
      return lengths;
    });
    console.log(
      `\n336 h DashScope batch: ${((performance.now() - longStarted) / 1000).toFixed(1)} s wall, ` +
        `${long.count('retrieve')} provider calls, ${runs.length} runs, events per run: ${runs.join(', ')}`,
    );

    const latencies: number[] = [];
    for (let i = 0; i < CANCEL_SAMPLES; i++) {
      const fake = new FakeProvider({ id: `bench_cancel_${i}`, total: 1000, runSeconds: 20 * HOUR }, clock);
      const activities = fake.activities();
      let cancelAtMs = 0;
      const timedCancel: typeof activities.cancelBatch = async (ref) => {
        cancelAtMs = performance.now();
        return activities.cancelBatch(ref);
      };
      await withWorker(env, { ...activities, cancelBatch: timedCancel }, async (taskQueue) => {
        const handle = await env.client.workflow.start(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId(fake.plan.id),
          args: [{ batchId: fake.plan.id, provider: 'fake' }],
        });
        await env.sleep('2 hours');
        const sentAt = performance.now();
        await handle.signal(cancelSignal, { reason: 'bench' });
        while (cancelAtMs === 0) await new Promise((r) => setTimeout(r, 1));
        latencies.push(cancelAtMs - sentAt);
        await handle.result();
      });
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `\ncancel signal -> provider cancel call (${latencies.length} samples, real ms): ` +
        `median ${percentile(latencies, 50).toFixed(1)}, p99 ${percentile(latencies, 99).toFixed(1)}, max ${latencies[latencies.length - 1].toFixed(1)}`,
    );
  } finally {
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

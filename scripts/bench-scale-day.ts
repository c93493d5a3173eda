/**
 * Scale benchmark, part 2 (run: npm run bench:scale-day): provider calls and lateness over batches of real length
 * (hours), which the emulator part (bench-scale.ts, wall clock) cannot show: there a 4 h batch lasts 4 min of wall
 * time, so per-batch polling makes ~3 calls a batch and nothing can undercut the 2 every strategy needs (first look,
 * confirmation of the end). Here the time-skipping server runs whole days in minutes: BENCH_DAY_BATCHES (1000)
 * batches of 100 requests are created at once (a nightly job split into batches), running 2-23 h (spread evenly),
 * and are tracked to the end with per-batch polling and then with fleet polling (default policies, pages of 100),
 * each on a fresh server with the same scripted provider. Reported per strategy: retrieve and list calls, calls a
 * batch, calls per hour per 10,000 batches in flight (calls / batch-hours in flight x 10,000), and lateness: simulated
 * seconds from a batch's completed_at to the retrieve that confirmed it, p50/p99/max.
 */
import { FakeFleet, trackAll, type FleetPlan } from '../test/helpers/fake-fleet';
import { createTimeSkippingEnv } from '../test/helpers/temporal-env';
import { withWorker } from '../test/helpers/worker';

const N = Number(process.env.BENCH_DAY_BATCHES ?? 300);
const HOUR = 3600;
/**
 * Requests a batch (BENCH_DAY_REQUESTS): 10,000 by default, a common size; with few requests over many hours
 * (100 over 15 h: one every 9 min) the progress rate is coarse and both strategies aim up to a request's time late.
 */
const REQUESTS = Number(process.env.BENCH_DAY_REQUESTS ?? 10_000);

interface Row {
  strategy: string;
  finished: number;
  retrieves: number;
  lists: number;
  callsPerBatch: number;
  callsPerHourPer10k: number;
  late: { p50: number; p99: number; max: number };
  wallS: number;
}

function rank(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function run(strategy: 'per-batch' | 'fleet'): Promise<Row> {
  const env = await createTimeSkippingEnv();
  const started = performance.now();
  try {
    const fleet = new FakeFleet(strategy === 'fleet' ? 'fl' : 'pb', [], () => env.currentTimeMs(), {
      fleetPolling: strategy === 'fleet',
    });
    const plans: FleetPlan[] = Array.from({ length: N }, (_, i) => ({
      total: REQUESTS,
      runSeconds: Math.round(2 * HOUR + (i / Math.max(1, N - 1)) * 21 * HOUR),
      validatingSeconds: 120,
      finalizingSeconds: 300,
    }));
    const ids = plans.map((p) => fleet.add(p));
    await withWorker(env, fleet.activities(), async (taskQueue) => {
      await trackAll(env.client, taskQueue, ids);
      // Skip time an hour at a time until every batch was billed (or two days passed).
      for (let h = 0; h < 48 && fleet.recorded.length < N; h++) {
        await env.sleep('1 hour');
        process.stderr.write(
          `[bench-scale-day] ${strategy}: ${h + 1} h simulated, ${fleet.recorded.length}/${N} billed, ` +
            `${((performance.now() - started) / 1000).toFixed(0)} s wall\n`,
        );
      }
    });
    const now = Math.floor((await env.currentTimeMs()) / 1000);
    // One pass: each batch's lateness (its confirming retrieve after completed_at) and its time in flight.
    const seen: { id: string; late: number; run: number }[] = [];
    let batchSeconds = 0;
    for (const id of ids) {
      const fake = fleet.fakes.get(id);
      if (!fake) continue;
      const state = fake.stateAt(now);
      const completedAt = state.completed_at ?? null;
      const confirm = fake.calls.filter((c) => c.op === 'retrieve').at(-1);
      if (completedAt && confirm)
        seen.push({ id, late: confirm.at - completedAt, run: fake.plan.runSeconds });
      if (completedAt && state.created_at) batchSeconds += completedAt - state.created_at;
    }
    seen.sort((a, b) => a.late - b.late);
    const late = seen.map((b) => b.late);
    const worst = seen.slice(-5).reverse();
    process.stderr.write(`[bench-scale-day] ${strategy}: latest ${JSON.stringify(worst)}\n`);
    const retrieves = fleet.retrieves();
    const calls = retrieves + fleet.listCalls;
    return {
      strategy,
      finished: fleet.recorded.length,
      retrieves,
      lists: fleet.listCalls,
      callsPerBatch: calls / N,
      callsPerHourPer10k: (calls / (batchSeconds / HOUR)) * 10_000,
      late: { p50: rank(late, 50), p99: rank(late, 99), max: late.at(-1) ?? NaN },
      wallS: (performance.now() - started) / 1000,
    };
  } finally {
    await env.teardown();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const strategies = (process.env.BENCH_DAY_STRATEGIES ?? 'per-batch,fleet').split(',');
  for (const strategy of ['per-batch', 'fleet'] as const) {
    if (strategies.includes(strategy)) rows.push(await run(strategy));
  }
  const head =
    '| strategy | billed | retrieve | list | calls a batch | calls/h per 10,000 in flight | late p50 s | late p99 s | late max s | wall s |';
  const lines = rows.map(
    (r) =>
      `| ${r.strategy} | ${r.finished}/${N} | ${r.retrieves} | ${r.lists} | ${r.callsPerBatch.toFixed(1)} | ` +
      `${r.callsPerHourPer10k.toFixed(0)} | ${r.late.p50} | ${r.late.p99} | ${r.late.max} | ${r.wallS.toFixed(0)} |`,
  );
  process.stdout.write(
    `\nbench:scale-day — ${N} batches of ${REQUESTS} requests, 2-23 h each, created at once (time-skipping server)\n\n` +
      [head, '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |', ...lines].join('\n') +
      '\n',
  );
  const [per, fleet] = rows;
  if (!per || !fleet) return;
  process.stdout.write(
    `\nfleet makes ${(fleet.callsPerHourPer10k / per.callsPerHourPer10k).toFixed(3)} of per-batch polling's ` +
      `calls (goal <= 0.067); lateness p99 ${fleet.late.p99} s vs ${per.late.p99} s (goal < 60 s)\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

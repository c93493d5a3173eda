/**
 * Heap a cached workflow run costs (run: npm run bench:workflow-memory), side by side: the workflow bundle with
 * our modules evaluated once per run (the SDK's default) and with them loaded once into the shared V8 context
 * (src/worker/workflow-bundle-options.ts). Each variant: a time-skipping server, a worker in debug mode (workflows
 * run in this thread's isolate, so a forced GC and `heapUsed` see them; in production they run in one worker
 * thread), BENCH_WF_MEMORY_RUNS (500) batch workflows with fleet polling that stay in progress, all cached, one
 * simulated hour; then heap used after a full GC, less the same before the first workflow started, per run. (Not
 * RSS: both variants run in this one process, and pages the first one grew stay resident for the second.)
 */
import { FakeFleet, trackAll } from '../test/helpers/fake-fleet';
import { workflowBundle } from '../test/helpers/workflow-bundle';
import { createTimeSkippingEnv } from '../test/helpers/temporal-env';
import { withWorker } from '../test/helpers/worker';

const RUNS = Number(process.env.BENCH_WF_MEMORY_RUNS ?? 500);
const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  return process.memoryUsage().heapUsed;
}

async function run(shared: boolean): Promise<number> {
  const { code } = await workflowBundle(undefined, { preload: shared });
  const env = await createTimeSkippingEnv();
  try {
    const fleet = new FakeFleet(shared ? 'sh' : 'pr', [], () => env.currentTimeMs(), { fleetPolling: true });
    const ids = Array.from({ length: RUNS }, () =>
      fleet.add({ total: 10_000, runSeconds: 20 * 3600, validatingSeconds: 120, finalizingSeconds: 300 }),
    );
    return await withWorker(
      env,
      fleet.activities(),
      async (taskQueue) => {
        const before = heapUsed();
        await trackAll(env.client, taskQueue, ids);
        for (let k = 0; k < 6; k++) await env.sleep('10 minutes');
        return (heapUsed() - before) / 1024 / RUNS;
      },
      { worker: { workflowBundle: { code }, debugMode: true, maxCachedWorkflows: RUNS + 100 } },
    );
  } finally {
    await env.teardown();
  }
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:workflow-memory does)');
  const perRun = await run(false);
  const shared = await run(true);
  process.stdout.write(
    `\nbench:workflow-memory — ${RUNS} cached batch workflows (fleet polling, in progress), debug-mode worker\n\n` +
      '| workflow modules | heap KB a run |\n| --- | --- |\n' +
      `| evaluated once per run (SDK default) | ${perRun.toFixed(0)} |\n` +
      `| loaded once, shared (batchkeeper) | ${shared.toFixed(0)} |\n` +
      `\nshared modules save ${(perRun - shared).toFixed(0)} KB of heap a cached run ` +
      `(${((1 - shared / perRun) * 100).toFixed(0)} %)\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

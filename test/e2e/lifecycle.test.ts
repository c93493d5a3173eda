// End to end on real processes: the Temporal dev server, the emulator over HTTP, `batchkeeper worker` and the
// `batchkeeper` CLI as child processes, and the `temporal` CLI as a foreign client.
import type { BatchStatusResult } from '../../src/client';
import { requestFails } from '../../src/emulator';
import type { BatchStatusView } from '../../workflows/contract';
import { createBatch, freePort, sleep, waitUntil } from './harness';
import { E2E_TIMEOUT_MS, TRACK_FAST, expectResultsOnDisk, parseJson, useE2EWorld, type World } from './world';

const e2e = useE2EWorld();

function cancelCalls(w: World, batchId: string) {
  return w.emulator.calls().filter((c) => c.route === 'batches.cancel' && c.path.includes(batchId));
}

async function statusJson(w: World, batchId: string): Promise<BatchStatusResult> {
  const run = await w.cli(['status', batchId, '--json']);
  if (run.code !== 0) throw new Error(`status exited ${run.code}: ${run.stderr}`);
  return parseJson<BatchStatusResult>(run);
}

function queriedCompleted(s: BatchStatusResult): number {
  return s.source === 'query' ? (s.view.snapshot?.requestCounts.completed ?? 0) : 0;
}

test(
  'submit -> progress -> cancel by the temporal CLI: cancelled once, billed what completed, query answers',
  async () => {
    const w = await e2e.start();
    const { batchId } = await createBatch(w.openai, 150, 'cancel');
    const workflowId = `batch-${batchId}`;

    const track = await w.cli(['track', batchId, ...TRACK_FAST, '--json']);
    expect(track.code).toBe(0);
    expect(parseJson(track)).toMatchObject({ batchId, workflowId, started: true, taskQueue: w.taskQueue });

    const progressed = await waitUntil(
      'progress in `batchkeeper status --json`',
      () => statusJson(w, batchId),
      (s) => queriedCompleted(s) > 0,
      {
        timeoutMs: 60_000,
        intervalMs: 100,
        context: () => w.worker.tail(),
      },
    );
    expect(progressed.source === 'query' && progressed.view.snapshot?.status).toBe('in_progress');

    const signalledAt = Date.now();
    const signal = await w.temporal([
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'cancel',
      '--input',
      JSON.stringify({ reason: 'e2e', requestedBy: 'temporal-cli' }),
    ]);
    expect(signal.code).toBe(0);

    const outcome = await w.bk.waitForOutcome(batchId, { timeoutMs: 120_000 });
    const final = await w.openai.batches.retrieve(batchId);
    const counts = final.request_counts!;
    expect(final.status).toBe('cancelled');
    expect(outcome.status).toBe('cancelled');
    // The cancel took effect part-way: some requests ran (and are billed), some never did.
    expect(counts.completed).toBeGreaterThanOrEqual(queriedCompleted(progressed));
    expect(counts.completed).toBeGreaterThan(0);
    expect(counts.completed + counts.failed).toBeLessThan(counts.total);

    const cancels = cancelCalls(w, batchId);
    expect(cancels).toHaveLength(1);
    expect(cancels[0].at).toBeGreaterThanOrEqual(signalledAt);

    const billing = {
      total: counts.total,
      completed: counts.completed,
      billed: counts.completed,
      failed: counts.failed,
      notRun: counts.total - counts.completed - counts.failed,
    };
    expect(outcome.billing).toMatchObject(billing);
    expect(outcome.cancel).toMatchObject({
      reason: 'e2e',
      requestedBy: 'temporal-cli',
      source: 'signal',
      duplicates: 0,
      tooLate: false,
      providerOutcome: 'cancel-requested',
    });

    const rows = await w.ledgerRows(batchId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      batchId,
      workflowId,
      provider: 'emulator',
      status: 'cancelled',
      ...billing,
      cancelReason: 'e2e',
      cancelRequestedBy: 'temporal-cli',
    });
    expect(rows[0].cancelRequestedAt).not.toBeNull();

    // Another language's client reads the same snapshot through the `status` query.
    const query = await w.temporal([
      'workflow',
      'query',
      '--workflow-id',
      workflowId,
      '--type',
      'status',
      '-o',
      'json',
    ]);
    expect(query.code).toBe(0);
    const view = queryResult(query.stdout);
    expect(view).toMatchObject({
      batchId,
      provider: 'emulator',
      phase: 'finished',
      snapshot: { id: batchId, status: 'cancelled', requestCounts: counts },
      billing,
      cancel: { reason: 'e2e', requestedBy: 'temporal-cli' },
    });
  },
  E2E_TIMEOUT_MS,
);

test(
  'a completed batch: `status --watch` exits 0, one ledger row billing what completed, results on disk',
  async () => {
    const failureRate = 0.2;
    const metricsPort = await freePort();
    const w = await e2e.start({ emulator: { failureRate, requestSeconds: 0.1 }, metricsPort });
    const requests = 30;
    const { batchId } = await createBatch(w.openai, requests, 'complete');
    const expectedFailed = Array.from({ length: requests }, (_, i) => `complete-${i + 1}`).filter((id) =>
      requestFails(id, failureRate),
    ).length;
    expect(expectedFailed).toBeGreaterThan(0);

    expect((await w.cli(['track', batchId, ...TRACK_FAST])).code).toBe(0);
    const watch = await w.cli(['status', batchId, '--watch', '--json']);
    expect(watch.code).toBe(0);
    const changes = watch.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as BatchStatusResult);
    const last = changes[changes.length - 1];
    expect(last.source === 'query' && last.view.snapshot?.status).toBe('completed');

    const outcome = await w.bk.waitForOutcome(batchId, { timeoutMs: 60_000 });
    const billing = {
      total: requests,
      completed: requests - expectedFailed,
      billed: requests - expectedFailed,
      failed: expectedFailed,
      notRun: 0,
    };
    expect(outcome).toMatchObject({ status: 'completed', billing, cancel: null });
    expect(outcome.billing.tokens?.totalTokens).toBeGreaterThan(0);

    const rows = await w.ledgerRows(batchId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      batchId,
      status: 'completed',
      ...billing,
      totalTokens: outcome.billing.tokens?.totalTokens,
      cancelReason: null,
      cancelRequestedAt: null,
    });
    expect(rows[0].finishedAt).not.toBeNull();

    // Finance's view through the CLI reads the same row.
    const report = await w.cli(['billing', '--ledger', w.ledgerPath, '--json']);
    expect(report.code).toBe(0);
    expect(parseJson<unknown[]>(report)).toEqual([expect.objectContaining({ batchId, ...billing })]);

    expectResultsOnDisk(outcome, w, { succeeded: billing.completed, failed: expectedFailed });

    // Prometheus metrics from the Temporal runtime, with this worker's activity and workflow counts.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^temporal_activity_execution_latency\w*\{[^}]*activity_type="retrieveBatch"/m);
    expect(metrics).toMatch(
      /^temporal_workflow_completed\w*\{[^}]*workflow_type="batchLifecycle"[^}]*\} [1-9]/m,
    );
  },
  E2E_TIMEOUT_MS,
);

test(
  'kill -9 of the worker mid-lifecycle, restart: the batch still ends once, one cancel call, one ledger row',
  async () => {
    // Long enough to outlive the kill and restart; cancelling lasts a while so a second cancel finds it open.
    // Per-batch polling: this is about the batch's own polls surviving the kill (the fleet's progress reports are
    // throttled to one per 30 min, so progress would not show before the kill).
    const w = await e2e.start({
      emulator: { requestSeconds: 0.2, cancellingSeconds: 4 },
      profile: { fleetPolling: false },
    });
    const { batchId } = await createBatch(w.openai, 300, 'kill');

    expect((await w.cli(['track', batchId, ...TRACK_FAST])).code).toBe(0);
    const before = await waitUntil(
      'progress before the kill',
      () => w.bk.status(batchId),
      (s) => queriedCompleted(s) > 0,
      { timeoutMs: 60_000, intervalMs: 100, context: () => w.worker.tail() },
    );
    const pollsBefore = before.source === 'query' ? before.view.polls : 0;

    process.kill(w.worker.pid, 'SIGKILL');
    expect(await w.worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // Provider-side the batch keeps running while no worker exists.
    await sleep(1000);

    const second = await w.startWorker();
    // The new process picks the workflow up (after the dead worker's sticky queue times out) and polls on.
    const resumed = await waitUntil(
      'polls by the restarted worker',
      () => w.bk.status(batchId),
      (s) =>
        s.source === 'query' &&
        s.view.polls > pollsBefore + 2 &&
        queriedCompleted(s) > queriedCompleted(before),
      { timeoutMs: 90_000, intervalMs: 250, context: () => second.tail() },
    );
    expect(resumed.source === 'query' && resumed.view.snapshot?.status).toBe('in_progress');

    const cancel = await w.cli(['cancel', batchId, '--reason', 'after restart', '--requested-by', 'e2e']);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain(`cancel sent to workflow batch-${batchId}`);
    // A second request, from another client, is recorded as a duplicate and never sent to the provider.
    await w.bk.cancel(batchId, { reason: 'again', requestedBy: 'e2e-duplicate' });

    const outcome = await w.bk.waitForOutcome(batchId, { timeoutMs: 120_000 });
    const counts = (await w.openai.batches.retrieve(batchId)).request_counts!;
    expect(outcome.status).toBe('cancelled');
    expect(outcome.cancel).toMatchObject({ reason: 'after restart', requestedBy: 'e2e', duplicates: 1 });
    expect(cancelCalls(w, batchId)).toHaveLength(1);
    expect(counts.completed).toBeGreaterThan(queriedCompleted(resumed) - 1);
    expect(counts.completed + counts.failed).toBeLessThan(counts.total);

    const rows = await w.ledgerRows(batchId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      batchId,
      status: 'cancelled',
      total: counts.total,
      billed: counts.completed,
      notRun: counts.total - counts.completed - counts.failed,
      cancelReason: 'after restart',
      cancelRequestedBy: 'e2e',
    });
  },
  E2E_TIMEOUT_MS,
);

/** `temporal workflow query -o json` prints `{"queryType", "queryResult": [<value>]}`. */
function queryResult(stdout: string): BatchStatusView {
  const parsed = JSON.parse(stdout) as { queryResult?: unknown[] };
  if (!Array.isArray(parsed.queryResult)) throw new Error(`unexpected query output: ${stdout}`);
  return parsed.queryResult[0] as BatchStatusView;
}

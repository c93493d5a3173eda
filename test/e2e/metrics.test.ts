// The worker's business metrics end to end: two batches (one completed, one cancelled) through the real worker
// process, then its Prometheus endpoint scraped and checked against the ledger rows and the workflows' own
// records. And the in-flight gauge's visibility counts on the dev server.
import pino from 'pino';
import { Client, Connection } from '@temporalio/client';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInFlightGauge } from '../../src/worker/in-flight';
import { METRICS } from '../../src/worker/metrics';
import { registerSearchAttributes } from '../../src/worker/search-attributes';
import {
  BATCH_STATUSES,
  BatchProviderKey,
  BatchStatusKey,
  type BatchOutcome,
} from '../../workflows/contract';
import { recordingMetrics } from '../unit/recording-metrics';
import { EMULATOR_PROVIDER, createBatch, freePort, waitUntil } from './harness';
import { E2E_TIMEOUT_MS, useE2EWorld } from './world';

const e2e = useE2EWorld();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-metrics-e2e-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, enough of it for our label values (no commas, quotes or escapes). */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').split(',').filter(Boolean)) {
      const [k, v] = pair.split('=');
      labels[k] = v.replace(/^"|"$/g, '');
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

const seconds = (from: string | null, to: string | null) =>
  (Date.parse(to ?? '') - Date.parse(from ?? '')) / 1000;

test(
  'a completed and a cancelled batch: terminal counts, requests billed, tokens and cost equal the ledger rows; provider calls, poll lateness and cancel latency match what the workflows recorded',
  async () => {
    const pricesFile = join(dir, 'prices.json');
    writeFileSync(pricesFile, JSON.stringify({ 'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 } }));
    const metricsPort = await freePort();
    const w = await e2e.start({ metricsPort, extraEnv: { BATCHKEEPER_PRICES_FILE: pricesFile } });

    // Poll lateness is measured only for a batch that ends while tracked: each is tracked from here as soon as it
    // exists (a CLI process took 5 to 15 s to start on busy cores) and the completed one runs about 7 s.
    const track = (batchId: string) =>
      w.bk.track(batchId, { provider: EMULATOR_PROVIDER, pollPolicy: { maxIntervalSeconds: 1 } });
    const completed = await createBatch(w.openai, 40, 'metrics-done');
    await track(completed.batchId);
    const cancelled = await createBatch(w.openai, 300, 'metrics-cancel');
    await track(cancelled.batchId);
    await waitUntil(
      'progress of the batch to cancel',
      () => w.bk.status(cancelled.batchId),
      (s) => s.source === 'query' && (s.view.snapshot?.requestCounts.completed ?? 0) > 0,
      { timeoutMs: 60_000, intervalMs: 200, context: () => w.worker.tail() },
    );
    await w.bk.cancel(cancelled.batchId, { reason: 'metrics e2e', requestedBy: 'jest' });

    const outcomes: BatchOutcome[] = [];
    for (const { batchId } of [completed, cancelled]) {
      outcomes.push(await w.bk.waitForOutcome(batchId, { timeoutMs: 120_000 }));
    }
    expect(outcomes.map((o) => o.status)).toEqual(['completed', 'cancelled']);
    // This world's ledger holds exactly these two rows.
    const ledger = await w.ledgerRows(completed.batchId);
    expect(ledger).toHaveLength(2);
    const rows = outcomes.map((o) => {
      const row = ledger.find((r) => r.batchId === o.batchId);
      if (!row) throw new Error(`no ledger row for ${o.batchId}`);
      return row;
    });
    expect(rows.map((r) => r.status)).toEqual(['completed', 'cancelled']);
    expect(rows.every((r) => r.inputTokens !== null && r.estimatedCostUsd !== null)).toBe(true);

    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const samples = parseSamples(text);
    // Ours sit beside the runtime's on the same endpoint.
    expect(samples.some((s) => s.name.startsWith('temporal_'))).toBe(true);

    for (const row of rows) {
      const labels = { provider: EMULATOR_PROVIDER, status: row.status };
      expect(total(samples, METRICS.batchesTerminal.name, labels)).toBe(1);
      expect(total(samples, METRICS.requestsBilled.name, labels)).toBe(row.billed);
      expect(total(samples, METRICS.inputTokens.name, labels)).toBe(row.inputTokens);
      expect(total(samples, METRICS.outputTokens.name, labels)).toBe(row.outputTokens);
      expect(total(samples, METRICS.estimatedCost.name, labels)).toBeCloseTo(row.estimatedCostUsd ?? NaN, 9);
    }
    expect(total(samples, METRICS.batchesTerminal.name)).toBe(2);
    // The rest start at 0, so increase() sees the first batch of a status too.
    for (const status of ['failed', 'expired']) {
      const zero = samples.filter(
        (s) =>
          s.name === METRICS.batchesTerminal.name &&
          s.labels.status === status &&
          s.labels.provider === EMULATOR_PROVIDER,
      );
      expect(zero.map((s) => s.value)).toEqual([0]);
    }

    // Provider calls: the workflows' own count of retrieves and cancels, and one download per results file.
    const calls = (labels: Record<string, string>) => total(samples, METRICS.providerCalls.name, labels);
    const providerCalls = outcomes.reduce((n, o) => n + o.providerCalls, 0);
    const files = outcomes.reduce((n, o) => n + (o.results?.files.length ?? 0), 0);
    expect(files).toBeGreaterThan(0);
    expect(calls({ operation: 'cancel', outcome: 'ok' })).toBe(1);
    expect(
      calls({ operation: 'retrieve', outcome: 'ok' }) + calls({ operation: 'cancel', outcome: 'ok' }),
    ).toBe(providerCalls);
    expect(calls({ operation: 'download', outcome: 'ok' })).toBe(files);
    // Fleet polling (on for this openai-kind profile): the poller's list calls, as the emulator saw them.
    const lists = w.emulator.calls().filter((c) => c.route === 'batches.list').length;
    expect(calls({ operation: 'list', outcome: 'ok' })).toBe(lists);
    expect(calls({ provider: EMULATOR_PROVIDER })).toBe(providerCalls + files + lists);
    expect(calls({ operation: 'retrieve', outcome: 'rate_limited' })).toBe(0);
    expect(
      samples.some((s) => s.name === METRICS.providerCalls.name && s.labels.outcome === 'rate_limited'),
    ).toBe(true);

    // Poll lateness: the ledger's terminal time to the poll that showed it, as each workflow reports it.
    const lateness = await Promise.all(
      rows.map(async (row) => {
        const status = await w.bk.status(row.batchId);
        if (status.source !== 'query') throw new Error(`no status query answer for ${row.batchId}`);
        return seconds(row.finishedAt, status.view.lastPolledAt);
      }),
    );
    const latenessName = METRICS.pollLateness.name;
    expect(total(samples, `${latenessName}_count`, { provider: EMULATOR_PROVIDER })).toBe(2);
    expect(total(samples, `${latenessName}_sum`)).toBeCloseTo(
      lateness.reduce((a, b) => a + Math.max(0, b), 0),
      3,
    );

    // Cancel latency: one sample, from the cancel record.
    const cancel = outcomes[1].cancel;
    expect(cancel?.providerOutcome).toBe('cancel-requested');
    const cancelLabels = { provider: EMULATOR_PROVIDER, outcome: 'cancel-requested' };
    expect(total(samples, `${METRICS.cancelLatency.name}_count`, cancelLabels)).toBe(1);
    expect(total(samples, `${METRICS.cancelLatency.name}_sum`, cancelLabels)).toBeCloseTo(
      seconds(cancel?.requestedAt ?? null, cancel?.providerCalledAt ?? null),
      3,
    );

    // The in-flight gauge is exported for every configured profile and status, never per batch.
    const inFlight = samples.filter((s) => s.name === METRICS.batchesInFlight.name);
    expect(
      inFlight
        .filter((s) => s.labels.provider === EMULATOR_PROVIDER)
        .map((s) => s.labels.status)
        .sort(),
    ).toEqual([...BATCH_STATUSES].sort());
    // No label anywhere names a batch.
    const ours = samples.filter((s) => s.name.startsWith('batchkeeper_'));
    for (const { batchId } of [completed, cancelled]) {
      expect(ours.some((s) => Object.values(s.labels).some((v) => v.includes(batchId)))).toBe(false);
    }
  },
  E2E_TIMEOUT_MS,
);

test('the in-flight gauge counts running batch workflows by provider and status through visibility', async () => {
  const { client, connection } = e2e.temporal.env;
  const registered = await registerSearchAttributes(connection.operatorService, 'default');
  expect(registered).not.toHaveProperty('error');
  const metrics = recordingMetrics();
  const gauge = startInFlightGauge({
    client,
    metrics,
    providers: ['gauge-a', 'gauge-b'],
    logger: pino({ level: 'silent' }),
    intervalMs: 3_600_000,
  });
  // Nobody polls this task queue: the workflows stay running with the search attributes they started with.
  const taskQueue = `nobody-${Date.now()}`;
  const started = [
    ['gauge-a', 'in_progress'],
    ['gauge-a', 'in_progress'],
    ['gauge-a', 'cancelling'],
    ['gauge-b', 'validating'],
  ].map(([provider, status], i) =>
    client.workflow.start('batchLifecycle', {
      taskQueue,
      workflowId: `gauge-${taskQueue}-${i}`,
      args: [],
      typedSearchAttributes: [
        { key: BatchProviderKey, value: provider },
        { key: BatchStatusKey, value: status },
      ],
    }),
  );
  const handles = await Promise.all(started);
  const latest = () => {
    const last = new Map<string, number>();
    for (const o of metrics.of('batchesInFlight'))
      last.set(`${o.labels.provider}/${o.labels.status}`, o.value);
    return last;
  };
  try {
    // Visibility is eventually consistent: count until it shows all four.
    await waitUntil(
      'the four workflows in the gauge',
      async () => {
        expect(await gauge.refresh()).toBe(true);
        return latest();
      },
      (l) => [...l.values()].reduce((a, b) => a + b, 0) === 4,
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    const counts = latest();
    expect(counts.get('gauge-a/in_progress')).toBe(2);
    expect(counts.get('gauge-a/cancelling')).toBe(1);
    expect(counts.get('gauge-b/validating')).toBe(1);
    expect(counts.get('gauge-b/in_progress')).toBe(0);
    // Every (provider, status) is set, so a pair that empties goes to 0 instead of keeping its last value.
    expect(counts.size).toBe(2 * BATCH_STATUSES.length);
  } finally {
    await Promise.all(handles.map((h) => h.terminate('metrics test done')));
  }
  await waitUntil(
    'the gauge back at zero',
    async () => {
      await gauge.refresh();
      return latest();
    },
    (l) => [...l.values()].every((v) => v === 0),
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  await gauge.stop();
});

test('Temporal unreachable: the gauge keeps its values and the worker logs once per outage', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const metrics = recordingMetrics();
  const unreachable = new Client({
    // No retry interceptors: fail at once, as the gauge must when Temporal is down.
    connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [] }),
  });
  const gauge = startInFlightGauge({
    client: unreachable,
    metrics,
    providers: ['gauge-c'],
    logger,
    intervalMs: 3_600_000,
  });
  expect(await gauge.refresh()).toBe(false);
  expect(await gauge.refresh()).toBe(false);
  await gauge.stop();
  await unreachable.connection.close();
  expect(metrics.observations).toEqual([]);
  const warnings = lines
    .map((l) => JSON.parse(l) as { level: number; msg: string })
    .filter((l) => l.level === 40);
  expect(warnings).toHaveLength(1);
  expect(warnings[0].msg).toMatch(/in-flight batches/);
});

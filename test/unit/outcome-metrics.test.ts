// Per-batch metrics through the recordOutcome activity as the worker wires it (real activities, the metered
// ledger sink, a SQLite ledger): counted once per batch whatever the retries, with the ledger's own figures.
import type OpenAI from 'openai';
import pino from 'pino';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActivities } from '../../activities';
import { ProviderRegistry } from '../../activities/providers';
import { openSqliteLedger, type Ledger, type PriceTable } from '../../src/ledger';
import {
  cancelLatencySeconds,
  meteredLedgerSink,
  pollLatenessSeconds,
  type SightingLookup,
  type TerminalSighting,
} from '../../src/worker/outcome-metrics';
import type { BatchOutcome, BatchSnapshot, CancelRecord, TerminalStatus } from '../../workflows/contract';
import type { RecordOutcomeInput, WorkerActivities } from '../../workflows/shared/activity-types';
import { recordingMetrics, type RecordingMetrics } from './recording-metrics';

const PRICES: PriceTable = { 'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 } };
// Provider timestamps are unix seconds.
const CREATED = 1_767_000_000;
const FINISHED = CREATED + 3_600;
const iso = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString();

function outcome(
  batchId: string,
  status: TerminalStatus,
  opts: { cancel?: CancelRecord; tokens?: boolean; finishedAt?: number | null } = {},
): BatchOutcome {
  const finishedAt = opts.finishedAt === undefined ? FINISHED : opts.finishedAt;
  const snapshot: BatchSnapshot = {
    id: batchId,
    status,
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    inputFileId: 'file-in',
    outputFileId: null,
    errorFileId: null,
    requestCounts: { total: 100, completed: 60, failed: 5 },
    errors: [],
    usage: null,
    metadata: {},
    model: 'gpt-4o-mini',
    timestamps: {
      createdAt: CREATED,
      inProgressAt: CREATED + 10,
      expiresAt: CREATED + 86_400,
      finalizingAt: null,
      completedAt: status === 'completed' ? finishedAt : null,
      failedAt: status === 'failed' ? finishedAt : null,
      expiredAt: status === 'expired' ? finishedAt : null,
      cancellingAt: status === 'cancelled' ? FINISHED - 30 : null,
      cancelledAt: status === 'cancelled' ? finishedAt : null,
    },
  };
  return {
    batchId,
    provider: 'oai',
    status,
    billing: {
      total: 100,
      completed: 60,
      billed: 60,
      failed: 5,
      notRun: 35,
      tokens:
        opts.tokens === false
          ? null
          : {
              inputTokens: 200_000,
              cachedTokens: 0,
              outputTokens: 50_000,
              reasoningTokens: 0,
              totalTokens: 250_000,
            },
    },
    errors: [],
    cancel: opts.cancel ?? null,
    snapshot,
    providerCalls: 7,
    runs: 1,
    results: null,
    resultsError: null,
  };
}

const seenAfter = (seconds: number): TerminalSighting => ({
  lastPolledAt: new Date((FINISHED + seconds) * 1000).toISOString(),
  startedAt: iso(CREATED + 5),
});

let dir: string;
let ledger: Ledger;
let metrics: RecordingMetrics;
let sightings: string[];
let sighting: SightingLookup;
let acts: WorkerActivities;

function record(input: RecordOutcomeInput, attempt = 1): Promise<void> {
  const env = new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') });
  return env.run(acts.recordOutcome, input);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-outcome-metrics-'));
  ledger = openSqliteLedger(join(dir, 'ledger.sqlite'));
  metrics = recordingMetrics();
  sightings = [];
  sighting = async () => seenAfter(42);
  acts = createActivities({
    providers: new ProviderRegistry(
      [{ name: 'oai', baseURL: 'http://scripted.invalid/v1', apiKeyEnv: 'OAI_KEY', kind: 'openai' }],
      { OAI_KEY: 'sk-scripted' },
      // The model is on the batch object: recordOutcome never calls the provider here.
      () => ({}) as OpenAI,
    ),
    outcomes: meteredLedgerSink(ledger, PRICES, {
      metrics,
      sighting: (workflowId) => {
        sightings.push(workflowId);
        return sighting(workflowId);
      },
      logger: pino({ level: 'silent' }),
    }),
  });
});
afterEach(async () => {
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a recorded batch counts once with the figures of its ledger row, however often the activity runs', async () => {
  const input = { workflowId: 'batch-b1', outcome: outcome('b1', 'completed') };
  await record(input, 1);
  await record(input, 2);
  await record(input, 3);

  const row = await ledger.get('b1');
  expect(row).not.toBeNull();
  const labels = { provider: 'oai', status: 'completed' };
  expect(metrics.of('batchesTerminal')).toEqual([{ metric: 'batchesTerminal', value: 1, labels }]);
  expect(metrics.sum('requestsBilled', labels)).toBe(row?.billed);
  expect(metrics.sum('inputTokens', labels)).toBe(row?.inputTokens);
  expect(metrics.sum('outputTokens', labels)).toBe(row?.outputTokens);
  // The ledger's estimate ((200k * 0.15 + 50k * 0.6) / 1M at the batch price), not a second computation.
  expect(row?.estimatedCostUsd).toBe(0.03);
  expect(metrics.of('estimatedCost')).toEqual([{ metric: 'estimatedCost', value: 0.03, labels }]);
  expect(metrics.of('pollLateness')).toEqual([{ metric: 'pollLateness', value: 42, labels }]);
  expect(metrics.of('cancelLatency')).toEqual([]);
  // Retries neither ask the workflow again nor observe anything.
  expect(sightings).toEqual(['batch-b1']);
});

test('the sighting the workflow sends with its outcome is used as is: the workflow is not asked', async () => {
  await record({ workflowId: 'batch-s1', outcome: outcome('s1', 'completed'), sighting: seenAfter(7) });
  expect(metrics.of('pollLateness')).toEqual([
    { metric: 'pollLateness', value: 7, labels: { provider: 'oai', status: 'completed' } },
  ]);
  expect(sightings).toEqual([]);
});

test('a cancelled batch: cancel latency from the request to the return of the provider call, by its outcome', async () => {
  const cancel: CancelRecord = {
    requestedAt: '2026-01-01T00:00:00.000Z',
    reason: 'budget',
    requestedBy: 'billing-svc',
    source: 'signal',
    duplicates: 2,
    tooLate: false,
    providerCalledAt: '2026-01-01T00:00:01.250Z',
    providerOutcome: 'cancel-requested',
  };
  await record({ workflowId: 'batch-c1', outcome: outcome('c1', 'cancelled', { cancel }) });
  expect(metrics.of('cancelLatency')).toEqual([
    { metric: 'cancelLatency', value: 1.25, labels: { provider: 'oai', outcome: 'cancel-requested' } },
  ]);
  expect(metrics.of('batchesTerminal', { status: 'cancelled' })).toHaveLength(1);
  expect(metrics.sum('requestsBilled', { status: 'cancelled' })).toBe(60);

  // A cancel that came too late never reached the provider: no latency to observe.
  const tooLate = { ...cancel, tooLate: true, providerCalledAt: null, providerOutcome: null };
  await record({ workflowId: 'batch-c2', outcome: outcome('c2', 'completed', { cancel: tooLate }) });
  expect(metrics.of('cancelLatency')).toHaveLength(1);
});

test('unknown tokens, model price or terminal time: the batch still counts, the unknown figures add nothing', async () => {
  await record({ workflowId: 'w', outcome: outcome('u1', 'expired', { tokens: false, finishedAt: null }) });
  expect(metrics.of('batchesTerminal', { status: 'expired' })).toHaveLength(1);
  expect(metrics.sum('requestsBilled', { status: 'expired' })).toBe(60);
  expect(metrics.of('inputTokens')).toEqual([]);
  expect(metrics.of('outputTokens')).toEqual([]);
  expect(metrics.of('estimatedCost')).toEqual([]);
  expect(metrics.of('pollLateness')).toEqual([]);
});

test('the workflow cannot be asked (query failed or timed out): lateness is skipped, the bill and the rest count', async () => {
  sighting = async () => {
    throw new Error('query timed out');
  };
  await record({ workflowId: 'w', outcome: outcome('q1', 'failed') });
  expect(await ledger.get('q1')).toMatchObject({ status: 'failed' });
  expect(metrics.of('batchesTerminal', { status: 'failed' })).toHaveLength(1);
  expect(metrics.of('pollLateness')).toEqual([]);

  sighting = async () => null;
  await record({ workflowId: 'w', outcome: outcome('q2', 'failed') });
  expect(metrics.of('batchesTerminal', { status: 'failed' })).toHaveLength(2);
  expect(metrics.of('pollLateness')).toEqual([]);
});

test('a ledger that fails records nothing and counts nothing; the retry that writes the row counts it', async () => {
  const real = ledger.record.bind(ledger);
  let fail = true;
  ledger.record = async (row) => {
    if (fail) throw new Error('database unavailable');
    return real(row);
  };
  const input = { workflowId: 'w', outcome: outcome('f1', 'completed') };
  await expect(record(input, 1)).rejects.toThrow('database unavailable');
  expect(metrics.observations).toEqual([]);
  fail = false;
  await record(input, 2);
  expect(metrics.of('batchesTerminal')).toHaveLength(1);
});

describe('pollLatenessSeconds', () => {
  const row = (finishedAt: string | null) => ({ finishedAt }) as Parameters<typeof pollLatenessSeconds>[0];
  const started = iso(CREATED);

  test('seen minus the terminal timestamp, in seconds', () => {
    expect(pollLatenessSeconds(row(iso(FINISHED)), seenAfter(90.5))).toBe(90.5);
  });
  test('a provider clock ahead of ours is no negative delay', () => {
    expect(pollLatenessSeconds(row(iso(FINISHED)), seenAfter(-3))).toBe(0);
  });
  test('a batch that ended before tracking began is not polling lateness', () => {
    expect(
      pollLatenessSeconds(row(iso(FINISHED)), {
        lastPolledAt: iso(FINISHED + 600),
        startedAt: iso(FINISHED + 500),
      }),
    ).toBeNull();
    // Same second (provider timestamps are whole seconds): still a batch that was tracked when it ended.
    expect(
      pollLatenessSeconds(row(iso(FINISHED)), {
        lastPolledAt: iso(FINISHED + 2),
        startedAt: new Date(FINISHED * 1000 + 700).toISOString(),
      }),
    ).toBe(2);
  });
  test('unknown terminal time, poll or start: nothing to observe', () => {
    expect(pollLatenessSeconds(row(null), seenAfter(5))).toBeNull();
    expect(pollLatenessSeconds(row(iso(FINISHED)), { lastPolledAt: null, startedAt: started })).toBeNull();
    expect(pollLatenessSeconds(row(iso(FINISHED)), null)).toBeNull();
  });
});

test('cancelLatencySeconds: none without a cancel record or a provider call', () => {
  expect(cancelLatencySeconds(outcome('x', 'completed'))).toBeNull();
});

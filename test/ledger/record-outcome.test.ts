// The recordOutcome activity as the worker wires it (real activities, real ledger sink, a SQLite ledger),
// against scripted providers shaped like the ones we did not write: no `model`, no `usage`, refusals.
import OpenAI, { APIError } from 'openai';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Batch } from 'openai/resources/batches';
import { createActivities } from '../../activities';
import { toSnapshot } from '../../activities/normalize';
import { MAX_FIRST_LINE_BYTES } from '../../activities/outcome-model';
import { ProviderRegistry } from '../../activities/providers';
import { openSqliteLedger, type Ledger, type LedgerRow, type PriceTable } from '../../src/ledger';
import { ledgerSink } from '../../src/worker/ledger-sink';
import type { BatchOutcome, TokenUsage } from '../../workflows/contract';
import type { RecordOutcomeInput, WorkerActivities } from '../../workflows/shared/activity-types';
import { runCli } from '../cli/run-cli';

const PRICES: PriceTable = {
  'qwen-plus': { inputPerMTok: 0.4, outputPerMTok: 1.2 },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
};
// What the workflow puts in billing.tokens for DashScope: summed from the output lines.
const OUTPUT_TOKENS: TokenUsage = {
  inputTokens: 120_000,
  cachedTokens: 0,
  outputTokens: 30_000,
  reasoningTokens: 0,
  totalTokens: 150_000,
};
// (120k * $0.40 + 30k * $1.20) / 1M, at the batch price of 50 %.
const QWEN_COST = 0.042;

const requestLine = (model: string) =>
  JSON.stringify({
    custom_id: 'req-0',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content: 'hello' }] },
  }) + '\n';

/** A DashScope batch object as its API returns it: unset times are 0, and there is no `model` and no `usage`. */
function dashscopeBatch(): Batch {
  return {
    id: 'batch_ds_1',
    object: 'batch',
    endpoint: '/v1/chat/completions',
    input_file_id: 'file-batch-in',
    completion_window: '24h',
    status: 'completed',
    output_file_id: 'file-batch-out',
    error_file_id: null,
    errors: null,
    created_at: 1_767_000_000,
    in_progress_at: 1_767_000_060,
    expires_at: 1_767_086_400,
    finalizing_at: 1_767_003_000,
    completed_at: 1_767_003_600,
    failed_at: 0,
    expired_at: 0,
    cancelling_at: 0,
    cancelled_at: 0,
    request_counts: { total: 1000, completed: 1000, failed: 0 },
    metadata: { ds_name: 'nightly' },
  } as unknown as Batch;
}

function outcomeOf(raw: Batch, tokens: TokenUsage | null = OUTPUT_TOKENS): BatchOutcome {
  const snapshot = toSnapshot(raw);
  return {
    batchId: raw.id,
    provider: 'ds',
    status: 'completed',
    billing: { total: 1000, completed: 1000, billed: 1000, failed: 0, notRun: 0, tokens },
    errors: [],
    cancel: null,
    snapshot,
    providerCalls: 9,
    runs: 1,
    results: null,
    resultsError: null,
  };
}

type Content = (id: string, opts?: { signal?: AbortSignal }) => Promise<Response>;

let dir: string;
let ledgerPath: string;
let ledger: Ledger;
let contentCalls: string[];
let content: Content;
let logs: LogEntry[];
let acts: WorkerActivities;

function record(input: RecordOutcomeInput, attempt = 1): Promise<void> {
  const env = new MockActivityEnvironment(
    { attempt },
    { logger: new DefaultLogger('WARN', (e) => logs.push(e)) },
  );
  return env.run(acts.recordOutcome, input);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-record-'));
  ledgerPath = join(dir, 'ledger.sqlite');
  ledger = openSqliteLedger(ledgerPath);
  contentCalls = [];
  logs = [];
  content = async () => new Response(requestLine('qwen-plus'));
  const client = {
    files: {
      content: (id: string, opts?: { signal?: AbortSignal }) => {
        contentCalls.push(id);
        return content(id, opts);
      },
    },
  };
  acts = createActivities({
    providers: new ProviderRegistry(
      [{ name: 'ds', baseURL: 'http://scripted.invalid/v1', apiKeyEnv: 'DS_KEY', kind: 'dashscope' }],
      { DS_KEY: 'sk-scripted' },
      () => client as unknown as OpenAI,
    ),
    outcomes: ledgerSink(ledger, PRICES),
  });
});
afterEach(async () => {
  await ledger.close();
});

test('DashScope shape (no model, no usage): the model comes from the first line of the provider input file, the cost from output-line tokens at the batch price, and billing shows it', async () => {
  await record({ workflowId: 'batch-batch_ds_1', outcome: outcomeOf(dashscopeBatch()) });

  expect(contentCalls).toEqual(['file-batch-in']);
  const stored = await ledger.get('batch_ds_1');
  expect(stored).toMatchObject({
    model: 'qwen-plus',
    inputTokens: 120_000,
    outputTokens: 30_000,
    estimatedCostUsd: QWEN_COST,
  });

  const json = await runCli(['billing', '--ledger', ledgerPath, '--json']);
  expect(json.code).toBe(0);
  expect((JSON.parse(json.stdout) as LedgerRow[])[0]).toMatchObject({
    model: 'qwen-plus',
    estimatedCostUsd: QWEN_COST,
  });
  const csv = (await runCli(['billing', '--ledger', ledgerPath, '--format', 'csv'])).stdout.split('\r\n');
  const header = csv[0].split(',');
  const cells = csv[1].split(',');
  expect(cells[header.indexOf('model')]).toBe('qwen-plus');
  expect(cells[header.indexOf('estimated_cost_usd')]).toBe('0.042');
  const table = (await runCli(['billing', '--ledger', ledgerPath])).stdout.split('\n');
  expect(table[1]).toMatch(/^batch_ds_1\s+ds\s+qwen-plus\s.*\s0\.0420\s/);
});

test("the batch object's model wins and no file is read; the submission's model comes next", async () => {
  const openaiShaped = { ...dashscopeBatch(), id: 'batch_oai', model: 'gpt-4o-mini-2024-07-18' } as Batch;
  const outcome = outcomeOf(openaiShaped);
  // Other engineers' normalize fills snapshot.model from the batch object; pin it for this test either way.
  outcome.snapshot.model = 'gpt-4o-mini-2024-07-18';
  await record({ workflowId: 'w1', outcome, model: 'qwen-plus' });
  // (120k * 0.15 + 30k * 0.6) / 1M / 2, priced under the snapshot's base name.
  expect(await ledger.get('batch_oai')).toMatchObject({
    model: 'gpt-4o-mini-2024-07-18',
    estimatedCostUsd: 0.018,
  });

  await record({ workflowId: 'w2', outcome: outcomeOf(dashscopeBatch()), model: 'qwen-plus' });
  expect(await ledger.get('batch_ds_1')).toMatchObject({ model: 'qwen-plus', estimatedCostUsd: QWEN_COST });
  expect(contentCalls).toEqual([]);
});

test("the worker's normalized input file is read before the provider's copy; blank lines are skipped", async () => {
  const inputPath = join(dir, 'chunk-000.jsonl');
  writeFileSync(inputPath, '\n  \n' + requestLine('gpt-4o-mini') + requestLine('gpt-4o-mini'));
  await record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()), inputPath });
  expect(contentCalls).toEqual([]);
  expect((await ledger.get('batch_ds_1'))?.model).toBe('gpt-4o-mini');

  // A staging file another host wrote (or that was cleaned up) falls back to the provider.
  await record({
    workflowId: 'w',
    outcome: outcomeOf({ ...dashscopeBatch(), id: 'batch_ds_2' }),
    inputPath: join(dir, 'gone.jsonl'),
  });
  expect(contentCalls).toEqual(['file-batch-in']);
  expect((await ledger.get('batch_ds_2'))?.model).toBe('qwen-plus');
});

test('a 200 MB input file: only the first line is read, then the body is cancelled and the request aborted', async () => {
  const first = requestLine('qwen-plus');
  let pulls = 0;
  let cancelled = false;
  let signal: AbortSignal | undefined;
  content = async (_id, opts) => {
    signal = opts?.signal;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulls += 1;
          // The first line arrives split over two chunks; after it, 1 MiB chunks that never end.
          if (pulls === 1) c.enqueue(Buffer.from(first.slice(0, 20)));
          else if (pulls === 2) c.enqueue(Buffer.from(first.slice(20) + '{"custom_id":'));
          else c.enqueue(Buffer.alloc(1 << 20, 0x61));
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(stream);
  };
  await record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()) });
  expect((await ledger.get('batch_ds_1'))?.model).toBe('qwen-plus');
  expect(pulls).toBeLessThanOrEqual(3);
  expect(cancelled).toBe(true);
  expect(signal?.aborted).toBe(true);
});

test('a first line too long to hold stops the read at the cap: no model, no cost, a log line', async () => {
  let pulls = 0;
  let cancelled = false;
  content = async () =>
    new Response(
      new ReadableStream<Uint8Array>(
        {
          pull(c) {
            pulls += 1;
            c.enqueue(Buffer.alloc(1 << 20, 0x61));
          },
          cancel() {
            cancelled = true;
          },
        },
        { highWaterMark: 0 },
      ),
    );
  await record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()) });
  expect(await ledger.get('batch_ds_1')).toMatchObject({ model: null, estimatedCostUsd: null, billed: 1000 });
  expect(pulls).toBeLessThanOrEqual(MAX_FIRST_LINE_BYTES / (1 << 20) + 2);
  expect(cancelled).toBe(true);
  expect(logs.map((l) => l.message)).toContain('batch model unknown: recorded without a cost estimate');
});

test('a provider that refuses input file content: the bill is recorded without model or cost, with a log line', async () => {
  content = async () => {
    throw APIError.generate(
      400,
      {
        error: { message: 'Not allowed to download files of purpose: batch', type: 'invalid_request_error' },
      },
      undefined,
      new Headers(),
    );
  };
  await record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()) });
  expect(await ledger.get('batch_ds_1')).toMatchObject({
    model: null,
    estimatedCostUsd: null,
    billed: 1000,
    inputTokens: 120_000,
  });
  const warn = logs.find((l) => l.message === 'batch model unknown: recorded without a cost estimate');
  expect(warn?.meta).toMatchObject({
    batchId: 'batch_ds_1',
    problem: expect.stringContaining('Not allowed'),
  });
});

test('a transient provider failure retries the activity before recording; a lasting one records without the model', async () => {
  content = async () => {
    throw APIError.generate(503, { error: { message: 'overloaded' } }, undefined, new Headers());
  };
  await expect(record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()) }, 1)).rejects.toMatchObject({
    type: 'ProviderServerError',
    nonRetryable: false,
  });
  expect(await ledger.get('batch_ds_1')).toBeNull();

  await record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()) }, 3);
  expect(await ledger.get('batch_ds_1')).toMatchObject({ model: null, estimatedCostUsd: null });

  // The provider recovers on a later recording (a retried workflow): the row gains model and cost.
  content = async () => new Response(requestLine('qwen-plus'));
  await record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()) }, 2);
  expect(await ledger.get('batch_ds_1')).toMatchObject({ model: 'qwen-plus', estimatedCostUsd: QWEN_COST });
});

test('a later recording that lost its tokens and cannot read the input file keeps the model, tokens and cost', async () => {
  await record({ workflowId: 'w', outcome: outcomeOf(dashscopeBatch()) });
  const good = await ledger.get('batch_ds_1');
  expect(good?.estimatedCostUsd).toBe(QWEN_COST);

  // The retry's results download failed (no tokens) and the input file is gone at the provider.
  content = async () => {
    throw APIError.generate(404, { error: { message: 'No such file' } }, undefined, new Headers());
  };
  await record({ workflowId: 'w-retry', outcome: outcomeOf(dashscopeBatch(), null) });
  expect(await ledger.get('batch_ds_1')).toEqual({
    ...good,
    workflowId: 'w-retry',
    recordedAt: expect.any(String),
  });
});

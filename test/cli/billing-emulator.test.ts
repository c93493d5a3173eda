import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteLedger } from '../../src/ledger';
import type { LedgerRow } from '../../src/ledger';
import { row } from '../ledger/fixtures';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { ledgerSink } from '../../src/worker/ledger-sink';
import { ProviderRegistry } from '../../activities/providers';
import type { EmulatorHandle } from '../../src/emulator';
import { KEY, chatLine, client, jsonl, startManual, upload } from '../emulator/helpers';
import { expectOneLineError, runCli } from './run-cli';

let ledgerPath: string;
const rows: LedgerRow[] = [
  row({ batchId: 'b_jan', provider: 'openai', finishedAt: '2026-01-15T10:00:00.000Z', billed: 9, total: 10 }),
  row({
    batchId: 'b_feb',
    provider: 'dashscope',
    status: 'cancelled',
    finishedAt: '2026-02-03T10:00:00.000Z',
    cancelReason: 'over budget, "urgent"',
    total: 100,
    completed: 40,
    billed: 40,
    failed: 0,
    notRun: 60,
  }),
  row({ batchId: 'b_mar', provider: 'openai', finishedAt: '2026-03-01T00:00:00.000Z' }),
];

beforeAll(async () => {
  ledgerPath = join(mkdtempSync(join(tmpdir(), 'bk-cli-ledger-')), 'ledger.sqlite');
  const ledger = openSqliteLedger(ledgerPath);
  for (const r of rows) await ledger.record(r);
  await ledger.close();
});

describe('billing', () => {
  test('table by default, with a totals footer', async () => {
    const run = await runCli(['billing', '--ledger', ledgerPath]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^BATCH +PROVIDER +MODEL +STATUS +TOTAL +BILLED/);
    expect(lines.slice(1, 4).map((l) => l.split(/\s+/)[0])).toEqual(['b_jan', 'b_feb', 'b_mar']);
    expect(lines[lines.length - 1]).toMatch(/^3 batches/);
  });

  test('csv: header and one quoted-where-needed row per batch, filtered by time and provider', async () => {
    const run = await runCli([
      'billing',
      '--ledger',
      ledgerPath,
      '--format',
      'csv',
      '--since',
      '2026-02-01',
      '--until',
      '2026-03-01',
    ]);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\r\n');
    expect(lines[0]).toMatch(/^batch_id,provider,endpoint,model,status,total,completed,billed/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^b_feb,dashscope,.*,cancelled,100,40,40,0,60,/);
    expect(lines[1]).toContain('"over budget, ""urgent"""');
    expect(lines[2]).toBe('');
  });

  test('--json (global) and --format json give the rows; the ledger path can come from the environment', async () => {
    const viaGlobal = await runCli(['--json', 'billing', '--provider', 'openai'], {
      env: { BATCHKEEPER_LEDGER_PATH: ledgerPath },
    });
    expect(viaGlobal.code).toBe(0);
    const parsed = JSON.parse(viaGlobal.stdout) as LedgerRow[];
    expect(parsed.map((r) => r.batchId)).toEqual(['b_jan', 'b_mar']);
    expect(parsed[0]).toEqual(rows[0]);
    const viaFormat = await runCli([
      'billing',
      '--format',
      'json',
      '--status',
      'cancelled',
      '--ledger',
      ledgerPath,
    ]);
    expect((JSON.parse(viaFormat.stdout) as LedgerRow[]).map((r) => r.batchId)).toEqual(['b_feb']);
  });

  test.each([
    [['billing', '--since', 'last tuesday'], /--since.*expected a date/],
    [['billing', '--since', '2026-03-01', '--until', '2026-02-01'], /--since must be before --until/],
    [['billing', '--format', 'xml'], /--format.*Allowed choices are table, csv, json/],
    [['billing', '--status', 'running'], /--status.*Allowed choices/],
    [['--json', 'billing', '--format', 'csv'], /--json conflicts with --format csv/],
  ])('usage error %j -> exit 2', async (args, pattern) => {
    const run = await runCli([...args, '--ledger', ledgerPath]);
    expect(run.code).toBe(2);
    expectOneLineError(run, pattern);
  });

  test('no ledger file at the path: exit 3 and how to point at one; nothing is created', async () => {
    const missing = join(tmpdir(), `bk-no-ledger-${process.pid}`, 'ledger.sqlite');
    const run = await runCli(['billing', '--ledger', missing]);
    expect(run.code).toBe(3);
    expectOneLineError(run, /no ledger at .*bk-no-ledger.*--ledger <path>.*BATCHKEEPER_LEDGER_PATH/);
    expect(existsSync(missing)).toBe(false);
  });

  test('a database URL that is not Postgres: exit 1 naming the problem, the password redacted', async () => {
    const run = await runCli(['billing', '--database-url', 'mysql://u:hunter2@db/x']);
    expect(run.code).toBe(1);
    expectOneLineError(run, /unsupported ledger database URL/);
    expect(run.stderr).not.toContain('hunter2');
  });
});

describe('billing: rows that must not mislead', () => {
  const flagged = row({
    batchId: 'b_flag',
    status: 'cancelled',
    cancelReason: '=HYPERLINK("http://x")',
    discrepancies: ['request_counts missing', 'results: 9 succeeded lines, completed = 8'],
  });
  let path: string;
  beforeAll(async () => {
    path = join(mkdtempSync(join(tmpdir(), 'bk-cli-flag-')), 'ledger.sqlite');
    const ledger = openSqliteLedger(path);
    await ledger.record(flagged);
    await ledger.record(row({ batchId: 'b_ok', finishedAt: '2026-01-10T10:00:00.000Z' }));
    await ledger.close();
  });

  test('csv: a formula in a cancel reason is quoted as text; discrepancies are a column', async () => {
    const run = await runCli(['billing', '--ledger', path, '--format', 'csv']);
    expect(run.code).toBe(0);
    const [header, first, second] = run.stdout.split('\r\n');
    expect(header.endsWith(',discrepancies')).toBe(true);
    expect(first).toMatch(/^b_flag,/);
    expect(first).toContain(`,"'=HYPERLINK(""http://x"")",`);
    expect(first).not.toMatch(/,=HYPERLINK/);
    expect(first.endsWith(',"request_counts missing; results: 9 succeeded lines, completed = 8"')).toBe(true);
    expect(second).toMatch(/^b_ok,.*,$/);
  });

  test('table: the flagged row says why, and the totals line counts it', async () => {
    const run = await runCli(['billing', '--ledger', path]);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^b_flag .*request_counts missing; results: 9 succeeded lines, completed = 8$/);
    expect(lines[lines.length - 1]).toMatch(/^2 batches .*1 flagged$/);
  });

  test('json: discrepancies as a list, the cancel reason unchanged', async () => {
    const run = await runCli(['billing', '--ledger', path, '--json']);
    const parsed = JSON.parse(run.stdout) as LedgerRow[];
    expect(parsed[0]).toEqual(flagged);
    expect(parsed[1].discrepancies).toBeNull();
  });
});

describe('billing: a priced DashScope batch on the emulator', () => {
  let emu: EmulatorHandle;
  afterAll(async () => emu?.close());

  test('no model on the batch object, no usage: cost from the output lines at the batch price, model from the input file', async () => {
    emu = await startManual({ profile: 'dashscope' });
    const c = client(emu, emu.compatibleUrl);
    const lines = Array.from({ length: 5 }, (_, i) =>
      chatLine(`req-${i}`, `question ${i} `.repeat(i + 1), 'qwen-plus'),
    );
    const batch = await c.batches.create({
      input_file_id: await upload(c, lines),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await emu.advance(3600);

    const dir = mkdtempSync(join(tmpdir(), 'bk-cli-priced-'));
    const path = join(dir, 'ledger.sqlite');
    const ledger = openSqliteLedger(path);
    const acts = createActivities({
      providers: new ProviderRegistry(
        [{ name: 'ds', baseURL: emu.compatibleUrl, apiKeyEnv: 'DS_KEY', kind: 'dashscope' }],
        { DS_KEY: KEY },
      ),
      outcomes: ledgerSink(ledger, { 'qwen-plus': { inputPerMTok: 0.4, outputPerMTok: 1.2 } }),
      resultsDir: join(dir, 'results'),
    });
    const mock = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const env = {
      run: <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> =>
        mock.run(fn, ...args),
    };
    try {
      const snap = await env.run(acts.retrieveBatch, { provider: 'ds', batchId: batch.id });
      expect(snap.status).toBe('completed');
      expect(snap.usage).toBeNull();
      const results = await env.run(acts.downloadResults, {
        provider: 'ds',
        batchId: batch.id,
        outputFileId: snap.outputFileId,
        errorFileId: snap.errorFileId,
      });
      const { total, completed, failed } = snap.requestCounts;
      // The emulator names the model on DashScope batches too; DashScope itself does not.
      const snapshot = { ...snap, model: undefined };
      await env.run(acts.recordOutcome, {
        workflowId: `batch-${batch.id}`,
        outcome: {
          batchId: batch.id,
          provider: 'ds',
          status: 'completed',
          billing: { total, completed, billed: completed, failed, notRun: 0, tokens: results.tokens },
          errors: [],
          cancel: null,
          snapshot,
          providerCalls: 1,
          runs: 1,
          results: null,
          resultsError: null,
        },
      });
    } finally {
      await ledger.close();
    }

    // The expected cost from the output file itself, not from our summary.
    let inTok = 0;
    let outTok = 0;
    for (const l of await jsonl(c, (await c.batches.retrieve(batch.id)).output_file_id as string)) {
      inTok += l.response?.body.usage.prompt_tokens as number;
      outTok += l.response?.body.usage.completion_tokens as number;
    }
    expect(inTok).toBeGreaterThan(0);
    const expected = Math.round((inTok * 0.4 + outTok * 1.2) * 0.5) / 1e6;
    expect(expected).toBeGreaterThan(0);

    const run = await runCli(['billing', '--ledger', path, '--format', 'csv']);
    expect(run.code).toBe(0);
    const [header, record] = run.stdout.split('\r\n').map((l) => l.split(','));
    const cell = (name: string) => record[header.indexOf(name)];
    expect(cell('batch_id')).toBe(batch.id);
    expect(cell('model')).toBe('qwen-plus');
    expect(cell('input_tokens')).toBe(String(inTok));
    expect(cell('output_tokens')).toBe(String(outTok));
    expect(Number(cell('estimated_cost_usd'))).toBe(expected);
  });
});

describe('emulator', () => {
  test('passes port, profile and speed to the emulator runner', async () => {
    const calls: unknown[] = [];
    const run = await runCli(['emulator', '--port', '8089', '--profile', 'dashscope', '--speed', '60'], {
      runEmulator: async (opts) => {
        calls.push({ port: opts.port, profile: opts.profile, speed: opts.speed });
        opts.print?.('listening');
      },
    });
    expect(run.code).toBe(0);
    expect(calls).toEqual([{ port: 8089, profile: 'dashscope', speed: 60 }]);
    expect(run.stdout).toBe('listening\n');
  });

  test.each([
    [['emulator', '--profile', 'azure'], /--profile.*Allowed choices are openai, dashscope/],
    [['emulator', '--port', '99999'], /--port.*port number/],
    [['emulator', '--speed', '0'], /--speed.*positive number/],
  ])('usage error %j -> exit 2, the emulator not started', async (args, pattern) => {
    let started = false;
    const run = await runCli(args, {
      runEmulator: async () => {
        started = true;
      },
    });
    expect(run.code).toBe(2);
    expect(started).toBe(false);
    expectOneLineError(run, pattern);
  });
});

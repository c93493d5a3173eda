// One end-to-end world per test: the emulator over HTTP (in the test process), a `batchkeeper worker` child on
// a fresh task queue with its own temp dir (cwd, ledger, log), and the CLI / client pointed at the dev server.
import type OpenAI from 'openai';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BatchkeeperClient } from '../../src/client';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../src/emulator';
import { openLedger, type LedgerRow } from '../../src/ledger';
import type { BatchOutcome } from '../../workflows/contract';
import { createLocalEnv, temporalCliPath } from '../client/local-server';
import { uniqueTaskQueue } from '../helpers/worker';
import {
  EMULATOR_PROVIDER,
  cleanEnv,
  openaiClient,
  requireFile,
  runBatchkeeper,
  runTemporal,
  startWorkerProcess,
  stopAll,
  tempDir,
  workerEnv,
  type Proc,
  type RunResult,
} from './harness';

export const E2E_TIMEOUT_MS = 180_000;

export interface Temporal {
  env: TestWorkflowEnvironment;
  /** The provisioned `temporal` binary (also the dev server's). */
  cliPath: string;
}

/** The dev server (real visibility, real time) on a free port, through the existing test helper. */
export async function startTemporal(): Promise<Temporal> {
  const cliPath = requireFile(
    temporalCliPath(),
    'the Temporal CLI (TEMPORAL_CLI_PATH or the provisioned cache)',
  );
  return { env: await createLocalEnv(), cliPath };
}

export interface World {
  emulator: EmulatorHandle;
  /** The worker's environment (Temporal address, task queue, profiles, ledger): for other processes too. */
  env: NodeJS.ProcessEnv;
  openai: OpenAI;
  taskQueue: string;
  dir: string;
  ledgerPath: string;
  databaseUrl?: string;
  worker: Proc;
  bk: BatchkeeperClient;
  /** Starts another worker process with the same settings (after the first was killed). */
  startWorker(): Promise<Proc>;
  /** `batchkeeper --address … --task-queue … <args>` as a child process. */
  cli(args: string[]): Promise<RunResult>;
  /** `temporal <args> --address …` with the real Temporal CLI. */
  temporal(args: string[]): Promise<RunResult>;
  /** Every ledger row (the ledger is this world's own file, or rows of this world's batches in Postgres). */
  ledgerRows(batchId: string): Promise<LedgerRow[]>;
  close(): Promise<void>;
}

export interface WorldOptions {
  emulator?: EmulatorOptions;
  databaseUrl?: string;
  metricsPort?: number;
  profile?: Record<string, unknown>;
  extraEnv?: Record<string, string>;
}

export async function startWorld(t: Temporal, opts: WorldOptions = {}): Promise<World> {
  const emulator = await startEmulator({
    validatingSeconds: 0.5,
    requestSeconds: 0.15,
    finalizingSeconds: 0.5,
    cancellingSeconds: 1,
    ...opts.emulator,
  });
  const dir = tempDir('world');
  const taskQueue = uniqueTaskQueue('e2e');
  const ledgerPath = join(dir, 'ledger.sqlite');
  const env = workerEnv({
    address: t.env.address,
    taskQueue,
    emulatorUrl: emulator.url,
    emulatorKey: emulator.apiKey,
    ledgerPath,
    dataDir: dir,
    databaseUrl: opts.databaseUrl,
    profile: opts.profile,
    extraEnv: opts.extraEnv,
  });
  if (opts.metricsPort) env.BATCHKEEPER_METRICS_PORT = String(opts.metricsPort);
  let workers = 0;
  const startWorker = () => {
    workers += 1;
    // The worker runs in its own temp dir: anything it writes relative to its cwd stays out of the repo.
    return startWorkerProcess(env, { cwd: dir, logFile: join(dir, `worker-${workers}.log`) });
  };
  let worker: Proc;
  try {
    worker = await startWorker();
  } catch (err) {
    await emulator.close();
    throw err;
  }
  const globals = ['--address', t.env.address, '--namespace', 'default', '--task-queue', taskQueue];
  const world: World = {
    emulator,
    env,
    openai: openaiClient(emulator.url, emulator.apiKey),
    taskQueue,
    dir,
    ledgerPath,
    databaseUrl: opts.databaseUrl,
    worker,
    bk: new BatchkeeperClient(t.env.client, { taskQueue }),
    startWorker,
    cli: (args) =>
      runBatchkeeper([...globals, ...args], {
        env: cleanEnv({ BATCHKEEPER_LEDGER_PATH: ledgerPath }),
        cwd: dir,
        timeoutMs: 60_000,
      }),
    temporal: (args) =>
      runTemporal(t.cliPath, [...args, '--address', t.env.address, '--namespace', 'default']),
    async ledgerRows(batchId) {
      const ledger = await openLedger({ databaseUrl: opts.databaseUrl, sqlitePath: ledgerPath });
      try {
        const rows = await ledger.list();
        // A Postgres database is a test file's, and so may hold other worlds' rows: only this batch's concern it.
        return opts.databaseUrl ? rows.filter((r) => r.batchId === batchId) : rows;
      } finally {
        await ledger.close();
      }
    },
    async close() {
      await emulator.close();
      // BK_E2E_KEEP=1 keeps worker logs, ledger and results for a look after a failure.
      if (!process.env.BK_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

export interface E2EWorlds {
  /** This file's dev server, there from beforeAll on. */
  readonly temporal: Temporal;
  /** A world on that server for the running test; closed after the test, with every child process it started. */
  start(opts?: WorldOptions): Promise<World>;
}

/**
 * The setup every end-to-end file shares: one dev server for the file (its own, on a free port, so files can run
 * in parallel), and worlds the tests start and this closes after each test, whatever the test did.
 */
export function useE2EWorld(): E2EWorlds {
  let temporal: Temporal | undefined;
  const worlds: World[] = [];
  beforeAll(async () => {
    temporal = await startTemporal();
  }, 60_000);
  afterEach(async () => {
    // The children first: a worker must not outlive the emulator it polls, nor keep files open in the dir.
    await stopAll();
    for (const w of worlds.splice(0)) await w.close();
  });
  afterAll(async () => {
    await stopAll();
    await temporal?.env.teardown();
  });
  const started = (): Temporal => {
    if (!temporal) throw new Error('the dev server is only there inside tests (beforeAll ran first)');
    return temporal;
  };
  return {
    get temporal() {
      return started();
    },
    async start(opts) {
      const w = await startWorld(started(), opts);
      worlds.push(w);
      return w;
    },
  };
}

export const TRACK_FAST = ['--provider', EMULATOR_PROVIDER, '--poll-max', '1'];

/** Parses stdout of a `--json` command, with the whole output in the error when it is not JSON. */
export function parseJson<T = unknown>(run: RunResult): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

/** The output and error files the workflow downloaded: one line per request that ran, in the worker's dir. */
export function expectResultsOnDisk(
  outcome: BatchOutcome,
  w: World,
  expected: { succeeded: number; failed: number },
): void {
  expect(outcome.resultsError).toBeNull();
  const results = outcome.results;
  expect(results).not.toBeNull();
  if (!results) return;
  // BATCHKEEPER_RESULTS_DIR decides where they go.
  expect(results.dir).toBe(join(w.dir, 'results', outcome.batchId));
  expect(results.summary).toMatchObject({
    succeeded: expected.succeeded,
    failed: expected.failed,
    notRun: 0,
  });
  const lines = (kind: 'output' | 'error') => {
    const file = results.files.find((f) => f.kind === kind);
    if (!file) return [];
    expect(existsSync(file.path)).toBe(true);
    return readFileSync(file.path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number } | null });
  };
  const output = lines('output');
  const errors = lines('error');
  // The provider has no error file when nothing failed, and no output file when nothing succeeded.
  expect(results.files.map((f) => f.kind).sort()).toEqual(
    [expected.succeeded > 0 ? 'output' : null, expected.failed > 0 ? 'error' : null].filter(Boolean).sort(),
  );
  expect(output).toHaveLength(expected.succeeded);
  expect(errors).toHaveLength(expected.failed);
  expect(output.every((l) => l.response?.status_code === 200)).toBe(true);
  expect(new Set([...output, ...errors].map((l) => l.custom_id)).size).toBe(
    expected.succeeded + expected.failed,
  );
}

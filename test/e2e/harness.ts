// Real processes for the end-to-end tests and `scripts/bench-e2e.ts`: the `batchkeeper` CLI and worker as child
// processes (TypeScript run by tsx's loader), the `temporal` CLI binary as a foreign client, and bookkeeping
// so every child is stopped (SIGTERM, then SIGKILL) whatever happens. No jest globals here: the benchmark uses it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import OpenAI, { toFile } from 'openai';
import { stopChild } from '../../src/dev/temporal-cli';

export const REPO = resolve(__dirname, '..', '..');
export const CLI_MAIN = join(REPO, 'src', 'cli', 'main.ts');
/** tsx's loader by absolute URL, so children can run from any working directory (a temp dir, not the repo). */
const TSX_LOADER = pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
/** Provider profile name and key variable the e2e worker uses for the emulator. */
export const EMULATOR_PROVIDER = 'emulator';
export const EMULATOR_KEY_ENV = 'BK_E2E_EMULATOR_KEY';

/** Variables a developer's shell may hold that would change what a child does: children never inherit them. */
const SCRUBBED = /^(TEMPORAL_|BATCHKEEPER_|OPENAI_|DASHSCOPE_|TSX_)/;

/** The parent's environment without Temporal, batchkeeper and provider settings, plus `extra`. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUBBED.test(k)) env[k] = v;
  env.TSX_TSCONFIG_PATH = join(REPO, 'tsconfig.json');
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface WorkerEnvOptions {
  address: string;
  taskQueue: string;
  emulatorUrl: string;
  emulatorKey: string;
  ledgerPath: string;
  /** Results and staging files go under here (BATCHKEEPER_RESULTS_DIR / BATCHKEEPER_STAGING_DIR). */
  dataDir: string;
  databaseUrl?: string;
  logLevel?: string;
  /** More fields of the `emulator` profile (e.g. webhookSecretEnv). */
  profile?: Record<string, unknown>;
  /** More variables (e.g. the webhook signing secret the profile names). */
  extraEnv?: Record<string, string>;
}

/** What a deployed worker gets: Temporal address, task queue, an `emulator` provider profile, the ledger. */
export function workerEnv(o: WorkerEnvOptions): NodeJS.ProcessEnv {
  return cleanEnv({
    TEMPORAL_ADDRESS: o.address,
    TEMPORAL_NAMESPACE: 'default',
    BATCHKEEPER_TASK_QUEUE: o.taskQueue,
    BATCHKEEPER_PROVIDERS: JSON.stringify([
      {
        name: EMULATOR_PROVIDER,
        baseURL: o.emulatorUrl,
        apiKeyEnv: EMULATOR_KEY_ENV,
        kind: 'openai',
        ...o.profile,
      },
    ]),
    [EMULATOR_KEY_ENV]: o.emulatorKey,
    BATCHKEEPER_LEDGER_PATH: o.ledgerPath,
    BATCHKEEPER_RESULTS_DIR: join(o.dataDir, 'results'),
    BATCHKEEPER_STAGING_DIR: join(o.dataDir, 'staging'),
    BATCHKEEPER_DATABASE_URL: o.databaseUrl,
    BATCHKEEPER_LOG_LEVEL: o.logLevel ?? 'info',
    ...o.extraEnv,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

/** Running children, and whether each leads its own process group. */
const live = new Map<ChildProcess, boolean>();

function send(child: ChildProcess, group: boolean, sig: NodeJS.Signals): void {
  try {
    if (group && child.pid !== undefined) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    // Already gone (ESRCH).
  }
}

/** SIGTERM, then SIGKILL once `graceMs` passed; a group gets a final SIGKILL sweep for stragglers. */
function stopProcess(child: ChildProcess, group: boolean, graceMs: number): Promise<void> {
  if (!group) return stopChild(child, graceMs);
  return new Promise((resolveStop) => {
    const sweep = () => {
      clearTimeout(timer);
      send(child, true, 'SIGKILL');
      resolveStop();
    };
    const timer = setTimeout(sweep, graceMs);
    if (child.exitCode !== null || child.signalCode !== null) {
      // The leader is gone; its group may not be: give the rest the same grace.
      send(child, true, 'SIGTERM');
      return;
    }
    child.once('exit', () => {
      // The leader left; let the others finish their own shutdown within the grace period.
      setTimeout(sweep, Math.min(graceMs, 2000));
    });
    send(child, true, 'SIGTERM');
  });
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** The last `chars` of stdout and stderr, for error messages. */
  tail(chars?: number): string;
  /** Waits until the accumulated stdout+stderr matches; fails early if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const KEEP_CHARS = 200_000;

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Run it as the leader of its own process group, and signal the whole group on stop: for wrappers such as
   * `npx` whose own children (tsx, node, the Temporal dev server) would otherwise outlive them.
   */
  processGroup?: boolean;
  /** Also append everything the process prints to this file. */
  logFile?: string;
}

/** Spawns a process, remembers it for `stopAll()`, and keeps the tail of its output. */
export function spawnTracked(command: string, args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? REPO,
    env: opts.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.processGroup === true,
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  live.set(child, opts.processGroup === true);
  let out = '';
  let err = '';
  let log: WriteStream | null = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : null;
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-KEEP_CHARS);
    log?.write(d);
    notify();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-KEEP_CHARS);
    log?.write(d);
    notify();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      log?.end();
      log = null;
      notify();
      resolveExit({ code, signal });
    });
  });
  const tail = (chars = 3000) => `--- stdout ---\n${out.slice(-chars)}\n--- stderr ---\n${err.slice(-chars)}`;
  return {
    child,
    pid: child.pid,
    exited,
    stdout: () => out,
    stderr: () => err,
    tail,
    waitFor(pattern, timeoutMs) {
      return new Promise<void>((resolveWait, rejectWait) => {
        const finish = (error?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) rejectWait(error);
          else resolveWait();
        };
        const check = () => {
          if (pattern.test(out) || pattern.test(err)) finish();
          else if (child.exitCode !== null || child.signalCode !== null)
            finish(
              new Error(
                `${command} exited (${child.exitCode ?? child.signalCode}) before ${pattern}\n${tail()}`,
              ),
            );
        };
        const timer = setTimeout(
          () => finish(new Error(`no ${pattern} from ${command} after ${timeoutMs} ms\n${tail()}`)),
          timeoutMs,
        );
        listeners.add(check);
        check();
      });
    },
    stop: (graceMs = 5000) => stopProcess(child, opts.processGroup === true, graceMs),
  };
}

/** Stops every child this module started and is still running: SIGTERM, then SIGKILL after the grace period. */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map(([c, group]) => stopProcess(c, group, graceMs)));
}

/** `node --import tsx src/cli/main.ts ...args`: one process (no tsx wrapper), so its pid is the real one. */
export function spawnBatchkeeper(args: string[], opts: SpawnOptions = {}): Proc {
  return spawnTracked(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, ...args], opts);
}

/** `batchkeeper worker` as a child; resolves once it logged "worker ready". */
export async function startWorkerProcess(
  env: NodeJS.ProcessEnv,
  opts: { cwd: string; logFile?: string; readyTimeoutMs?: number; processGroup?: boolean },
): Promise<Proc> {
  const proc = spawnBatchkeeper(['worker'], {
    env,
    cwd: opts.cwd,
    logFile: opts.logFile,
    processGroup: opts.processGroup,
  });
  try {
    await proc.waitFor(/"msg":"worker ready"/, opts.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
  return proc;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a process to its end (killed after `timeoutMs`). */
export async function runToEnd(
  command: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  const started = Date.now();
  const proc = spawnTracked(command, args, opts);
  const timer = setTimeout(() => void proc.stop(1000), opts.timeoutMs ?? 60_000);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  return { code, signal, stdout: proc.stdout(), stderr: proc.stderr(), ms: Date.now() - started };
}

/** One `batchkeeper` CLI invocation as a child process. */
export function runBatchkeeper(
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  return runToEnd(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, ...args], opts);
}

/** One `temporal` CLI invocation (the provisioned binary): a client we did not write. */
export function runTemporal(cliPath: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return runToEnd(cliPath, args, { timeoutMs, env: cleanEnv() });
}

// ---------------------------------------------------------------------------------------------------------
// Small utilities

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bk-e2e-${prefix}-`));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Calls `fn` every `intervalMs` until `ok` holds; throws after `timeoutMs` with the last value. */
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  opts: { timeoutMs: number; intervalMs?: number; context?: () => string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      lastError = undefined;
      if (ok(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await sleep(opts.intervalMs ?? 250);
  }
  throw new Error(
    `timed out after ${opts.timeoutMs} ms waiting for ${what}; last value ${JSON.stringify(last)}` +
      (lastError
        ? `; last error ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`
        : '') +
      (opts.context ? `\n${opts.context()}` : ''),
  );
}

export function nearestRank(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(values: number[]): number {
  return nearestRank(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** The path when the file exists; otherwise an error saying what is missing and how to get it. */
export function requireFile(path: string | undefined, what: string): string {
  if (!path || !existsSync(path))
    throw new Error(`${what} not found (${path ?? 'unset'}): run npm run provision`);
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// Provider side: batches on the emulator through the real `openai` client

export function openaiClient(baseURL: string, apiKey: string): OpenAI {
  return new OpenAI({ baseURL, apiKey, maxRetries: 2, timeout: 30_000 });
}

/** Uploads a JSONL of `requests` chat requests and creates a batch; returns the batch id. */
export async function createBatch(
  client: OpenAI,
  requests: number,
  tag = 'e2e',
): Promise<{ batchId: string; inputFileId: string }> {
  const lines = Array.from({ length: requests }, (_, i) =>
    JSON.stringify({
      custom_id: `${tag}-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `request ${i + 1} of ${tag}` }] },
    }),
  );
  const file = await client.files.create({
    file: await toFile(Buffer.from(lines.join('\n') + '\n'), `${tag}.jsonl`),
    purpose: 'batch',
  });
  const batch = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { source: tag },
  });
  return { batchId: batch.id, inputFileId: file.id };
}

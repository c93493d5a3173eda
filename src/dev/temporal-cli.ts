import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** TEMPORAL_CLI_PATH, the provisioned cache, or `temporal` on PATH; null when none is there. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.TEMPORAL_CLI_PATH) return existsSync(env.TEMPORAL_CLI_PATH) ? env.TEMPORAL_CLI_PATH : null;
  const cache = env.BATCHKEEPER_CACHE ?? join(homedir(), '.cache', 'batchkeeper');
  const cached = join(cache, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
  if (existsSync(cached)) return cached;
  const which = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' });
  const onPath = which.stdout.trim();
  return which.status === 0 && onPath ? onPath : null;
}

/** Builds the CLI from the Go module proxy (scripts/provision-temporal.sh); minutes on first use, cached after. */
export function provisionTemporalCli(log: (line: string) => void): string {
  const script = resolve(__dirname, '..', '..', '..', 'scripts', 'provision-temporal.sh');
  const scriptPath = existsSync(script)
    ? script
    : resolve(__dirname, '..', '..', 'scripts', 'provision-temporal.sh');
  log(`no Temporal CLI found: building ${TEMPORAL_CLI_VERSION} with Go (a few minutes, once; cached after)`);
  const out = spawnSync('bash', [scriptPath, 'cli'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const match = /TEMPORAL_CLI_PATH=(\S+)/.exec(out.stdout ?? '');
  if (out.status !== 0 || !match) {
    throw new Error(
      'could not build the Temporal CLI: install Go 1.24+ or set TEMPORAL_CLI_PATH to a `temporal` binary',
    );
  }
  return match[1];
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolveOpen(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`process exited with code ${child.exitCode} before listening`);
    if (await portOpen(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
}

export interface DevServerOptions {
  cliPath: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace?: string;
  searchAttributes?: Record<string, string>;
  logFile?: string;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `temporal server start-dev` with a SQLite file under the data dir, so workflows survive restarts. */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  mkdirSync(o.dataDir, { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--ui-port',
    String(o.uiPort),
    '--db-filename',
    join(o.dataDir, 'temporal.sqlite'),
    '--namespace',
    o.namespace ?? 'default',
    '--log-level',
    'warn',
  ];
  for (const [name, type] of Object.entries(o.searchAttributes ?? {}))
    args.push('--search-attribute', `${name}=${type}`);
  const child = spawn(o.cliPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  try {
    await waitForPort(o.port, 60_000, child);
    await waitForPort(o.uiPort, 30_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`Temporal dev server did not start: ${(err as Error).message}\n${stderr}`);
  }
  return {
    address: `127.0.0.1:${o.port}`,
    uiUrl: `http://localhost:${o.uiPort}`,
    child,
    stop: () => stopChild(child),
  };
}

export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}

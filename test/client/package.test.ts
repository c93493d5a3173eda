// @batchkeeper/client as another service gets it: built from this repo's sources into a temp directory (never
// into the repo tree, which parallel jest workers and clean clones share), packed, installed alone into an empty
// project, compiled against by a strict TypeScript consumer that imports only the package name, and run against a
// real Temporal dev server where a worker tracks a batch on the local emulator.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { registerSearchAttributes } from '../../src/worker/search-attributes';
import { cleanEnv, createBatch, openaiClient, runToEnd, stopAll, REPO, type RunResult } from '../e2e/harness';
import { emulatorActivities } from '../helpers/emulator-activities';
import { withWorker } from '../helpers/worker';
import { createLocalEnv } from './local-server';

const PACKAGE_DIR = join(REPO, 'packages', 'client');
const TSC = join(REPO, 'node_modules', '.bin', 'tsc');
/** What a service that only wants the client must not get: the worker and its I/O. */
const WORKER_ONLY = [
  'better-sqlite3',
  'fastify',
  'pg',
  'openai',
  '@temporalio/worker',
  '@temporalio/core-bridge',
];
const REQUESTS = 40;

interface PackedFile {
  path: string;
}
interface Packed {
  filename: string;
  files: PackedFile[];
}
interface PackageJson {
  name: string;
  version: string;
  main?: string;
  types?: string;
  exports?: unknown;
  files?: string[];
  dependencies?: Record<string, string>;
}

let work: string;
let packed: Packed;
let scratch: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bk-clientpkg-'));
  const stage = join(work, 'stage');
  mkdirSync(stage);
  await step('build the package', process.execPath, [
    TSC,
    '-p',
    join(PACKAGE_DIR, 'tsconfig.json'),
    '--outDir',
    join(stage, 'dist'),
  ]);
  copyFileSync(join(PACKAGE_DIR, 'package.json'), join(stage, 'package.json'));
  // Scripts stay off: prepack would build again, into the staging directory, without a tsconfig there.
  const pack = await step(
    'npm pack',
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
    { cwd: stage },
  );
  packed = (JSON.parse(pack.stdout) as Packed[])[0];

  scratch = join(work, 'scratch');
  mkdirSync(scratch);
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify({ name: 'scratch-service', version: '1.0.0', private: true }, null, 2),
  );
  await step(
    'npm install of the tarball',
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed.filename)],
    { cwd: scratch, timeoutMs: 8 * 60_000 },
  );
}, 12 * 60_000);

afterAll(async () => {
  await stopAll();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the contract and the client only, and depends on three Temporal packages at the root version', () => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as PackageJson;
  const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as PackageJson;
  const temporal = root.dependencies?.['@temporalio/client'];
  // The SDK's packages must agree with the worker's exactly: a range could resolve to another release.
  expect(temporal).toMatch(/^\d+\.\d+\.\d+$/);
  expect(pkg.dependencies).toEqual({
    '@temporalio/client': temporal,
    '@temporalio/common': temporal,
    '@temporalio/envconfig': temporal,
  });
  // An import of anything else of the repo would be compiled in next to these, and show up here.
  const outside = packed.files
    .map((f) => f.path)
    .filter(
      (p) =>
        p !== 'package.json' &&
        !/^dist\/(packages\/client|src\/client|workflows\/contract)\/[^/]+\.(js|d\.ts)$/.test(p),
    );
  expect(outside).toEqual([]);
  const paths = packed.files.map((f) => f.path);
  expect(paths).toEqual(
    expect.arrayContaining([pkg.main?.replace(/^\.\//, ''), pkg.types?.replace(/^\.\//, '')]),
  );
});

test('installing it brings none of the worker, its database drivers, HTTP server or provider SDK', () => {
  const installed = installedPackages(join(scratch, 'node_modules'));
  expect(installed.filter((name) => WORKER_ONLY.includes(name))).toEqual([]);
  expect(installed).toEqual(
    expect.arrayContaining(['@batchkeeper/client', '@temporalio/client', '@temporalio/envconfig']),
  );
});

describe('a service compiled against the package', () => {
  let env: TestWorkflowEnvironment;
  let emu: EmulatorHandle;
  let dataDir: string;

  beforeAll(async () => {
    writeFileSync(join(scratch, 'consumer.ts'), CONSUMER);
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            strict: true,
            target: 'ES2022',
            module: 'node16',
            moduleResolution: 'node16',
            rootDir: '.',
            outDir: 'out',
            types: ['node'],
            typeRoots: [join(REPO, 'node_modules', '@types')],
            // @temporalio/common's own declarations import `ms`, whose exports map has no types under node16
            // resolution: checking libraries fails in any consumer. The probes in CONSUMER prove the types are real.
            skipLibCheck: true,
            noEmitOnError: true,
          },
          files: ['consumer.ts'],
        },
        null,
        2,
      ),
    );
    await step('compile the consumer', process.execPath, [TSC, '-p', scratch]);

    env = await createLocalEnv();
    const registered = await registerSearchAttributes(env.connection.operatorService, 'default');
    if ('error' in registered) throw new Error(`registering search attributes: ${registered.error}`);
    // Requests run one a second: the batch is still in progress when the consumer cancels it.
    emu = await startEmulator({
      validatingSeconds: 0.2,
      requestSeconds: 1,
      finalizingSeconds: 0.2,
      cancellingSeconds: 1,
    });
    dataDir = mkdtempSync(join(work, 'worker-'));
  }, 5 * 60_000);

  afterAll(async () => {
    await emu?.close();
    await env?.teardown();
  });

  test(
    'connects from TEMPORAL_* env, tracks, reads the status, cancels and gets the billed outcome',
    async () => {
      const { batchId } = await createBatch(openaiClient(emu.url, emu.apiKey), REQUESTS, 'clientpkg');
      const run = await withWorker(env, emulatorActivities(emu, dataDir), (taskQueue) =>
        runToEnd(process.execPath, [join(scratch, 'out', 'consumer.js'), batchId, 'emu', taskQueue], {
          cwd: scratch,
          env: consumerEnv({ TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' }),
          timeoutMs: 3 * 60_000,
        }),
      );
      if (run.code !== 0) throw new Error(`the consumer failed (${run.code ?? run.signal})\n${output(run)}`);
      const printed = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as ConsumerReport;

      expect(printed.connected).toEqual({ address: env.address, namespace: 'default' });
      expect(printed.tracked).toMatchObject({ workflowId: `batch-${batchId}`, started: true });
      expect(printed.status).toMatchObject({ source: 'query', batchId, provider: 'emu' });
      expect(printed.status.snapshotStatus).toMatch(/^(validating|in_progress)$/);
      expect(printed.cancelled).toMatchObject({ workflowId: `batch-${batchId}`, via: 'signal' });
      expect(printed.outcome.status).toBe('cancelled');
      expect(printed.outcome.cancel).toMatchObject({ reason: 'over budget', requestedBy: 'scratch-service' });

      const atProvider = emu.batch(batchId);
      expect(atProvider?.state.status).toBe('cancelled');
      const counts = atProvider?.object.request_counts as {
        total: number;
        completed: number;
        failed: number;
      };
      const { billing } = printed.outcome;
      expect(billing).toMatchObject({ total: REQUESTS, billed: counts.completed, failed: counts.failed });
      expect(billing.notRun).toBeGreaterThan(0);
      expect(billing.billed + billing.failed + billing.notRun).toBe(REQUESTS);
      const cancels = emu.calls().filter((c) => c.route === 'batches.cancel' && c.path.includes(batchId));
      expect(cancels.map((c) => c.status)).toEqual([200]);
    },
    5 * 60_000,
  );
});

interface ConsumerReport {
  connected: { address: string; namespace: string };
  tracked: { workflowId: string; started: boolean };
  status: { source: string; batchId: string; provider: string; snapshotStatus: string };
  cancelled: { workflowId: string; via: string };
  outcome: {
    status: string;
    cancel: { reason?: string; requestedBy?: string } | null;
    billing: { total: number; billed: number; failed: number; notRun: number };
  };
}

/** What a service of its own would write: connect, track, status, cancel, wait; one JSON line for the test. */
const CONSUMER = `import { BatchkeeperClient, connectClient, type BatchOutcome, type BatchStatusView } from '@batchkeeper/client';

async function main(): Promise<void> {
  const [batchId, provider, taskQueue] = process.argv.slice(2);
  const conn = await connectClient();
  try {
    const bk = new BatchkeeperClient(conn.client, { taskQueue });
    const tracked = await bk.track(batchId, { provider, pollPolicy: { cancelPollIntervalSeconds: 1 } });
    const { source, view } = await firstLook(bk, batchId);
    // Probes: each line fails to compile only if the package's types are real (and not \`any\`).
    // @ts-expect-error batchId is a string
    const probeView: number = view.batchId;
    // @ts-expect-error the Temporal client's own type comes through
    const probeClient: string = conn.client;
    void probeView;
    void probeClient;
    const cancelled = await bk.cancel(batchId, { reason: 'over budget', requestedBy: 'scratch-service' });
    const outcome: BatchOutcome = await bk.waitForOutcome(batchId, { timeoutMs: 120_000 });
    console.log(
      JSON.stringify({
        connected: { address: conn.address, namespace: conn.namespace },
        tracked,
        status: {
          source,
          batchId: view.batchId,
          provider: view.provider,
          snapshotStatus: view.snapshot?.status ?? null,
        },
        cancelled,
        outcome: { status: outcome.status, cancel: outcome.cancel, billing: outcome.billing },
      }),
    );
  } finally {
    await conn.close();
  }
}

/** The workflow looks at the provider right after it starts; the status has no snapshot until then. */
async function firstLook(bk: BatchkeeperClient, batchId: string): Promise<{ source: string; view: BatchStatusView }> {
  const until = Date.now() + 30_000;
  for (;;) {
    const status = await bk.status(batchId);
    if (status.source === 'query' && status.view.snapshot !== null) return status;
    if (Date.now() > until) throw new Error('no snapshot after 30 s: ' + JSON.stringify(status));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
`;

/** Runs a command to its end; a failure names the step and shows what it printed. */
async function step(
  what: string,
  command: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const result = await runToEnd(command, args, {
    cwd: opts.cwd ?? REPO,
    env: npmEnv(),
    timeoutMs: opts.timeoutMs ?? 5 * 60_000,
  });
  if (result.code !== 0) {
    throw new Error(
      `${what} failed (${result.code ?? result.signal}): ${command} ${args.join(' ')}\n${output(result)}`,
    );
  }
  return result;
}

function output(r: RunResult): string {
  return `--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`;
}

/**
 * `npm test` runs jest under npm, whose variables describe the repo (local prefix, package, lifecycle): a child
 * npm would take them for its own project's.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const key of Object.keys(env)) {
    if (/^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|npm_command$|INIT_CWD$)/i.test(key))
      delete env[key];
  }
  return env;
}

/** The consumer sees only its own node_modules: nothing preloaded, no extra module paths. */
function consumerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = npmEnv();
  delete env.NODE_OPTIONS;
  delete env.NODE_PATH;
  delete env.TSX_TSCONFIG_PATH;
  return { ...env, ...extra };
}

/** Every package under node_modules, nested ones included, by name. */
function installedPackages(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const names: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const scoped = entry.startsWith('@');
    for (const name of scoped ? readdirSync(join(dir, entry)).map((n) => `${entry}/${n}`) : [entry]) {
      names.push(name);
      names.push(...installedPackages(join(dir, name, 'node_modules')));
    }
  }
  return [...new Set(names)].sort();
}

/**
 * End-to-end benchmark on real processes (run: npx tsx scripts/bench-e2e.ts).
 *
 * (a) Start-up: the README's run command, `npx tsx src/cli/main.ts dev` with a fresh --data-dir and free ports,
 *     from spawn to the "batchkeeper is ready" line; BENCH_STARTS runs (3), each and the median.
 * (b) Cancel latency on that dev stack (Temporal dev server + emulator + worker): from `BatchkeeperClient.cancel`
 *     to the emulator's call log entry for the provider cancel (`at`, wall ms on the same machine), over
 *     BENCH_CANCELS (100) batches, one at a time; then the same from the spawn of a `batchkeeper cancel` process,
 *     BENCH_CLI_CANCELS (10) times.
 * (c) Worker memory with BENCH_BATCHES (1000) batches tracked at once: a fresh dev server, the emulator in this
 *     process (requests of 60 s, so the batches run for minutes and progress moves), `batchkeeper worker` as a
 *     child, poll policy capped at 30 s; the child's VmRSS sampled every second for BENCH_SAMPLE_SECONDS (75).
 *
 * Everything listens on 127.0.0.1 and free ports; every loop is bounded; every process is stopped at the end.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { BatchkeeperClient, connectClient, type ConnectedClient } from '../src/client';
import { findTemporalCli, startDevServer, type DevServer } from '../src/dev/temporal-cli';
import { startEmulator, type CallLogEntry, type EmulatorHandle } from '../src/emulator';
import {
  EMULATOR_PROVIDER,
  REPO,
  cleanEnv,
  createBatch,
  freePort,
  median,
  nearestRank,
  openaiClient,
  runBatchkeeper,
  runTemporal,
  sleep,
  spawnTracked,
  startWorkerProcess,
  stopAll,
  tempDir,
  waitUntil,
  workerEnv,
  type Proc,
} from '../test/e2e/harness';
import { pool } from './pool';

const STARTS = Number(process.env.BENCH_STARTS ?? 3);
const CANCELS = Number(process.env.BENCH_CANCELS ?? 100);
const CLI_CANCELS = Number(process.env.BENCH_CLI_CANCELS ?? 10);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 1000);
const SAMPLE_SECONDS = Number(process.env.BENCH_SAMPLE_SECONDS ?? 75);
/** Which parts to run, e.g. BENCH_PARTS=c; (b) starts its own dev stack when (a) does not run. */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'a,b,c').split(',').map((p) => p.trim()));
/** The emulator profile name and key `batchkeeper dev` configures (src/dev/run-dev.ts). */
const DEV_PROVIDER = 'emulator';
const DEV_KEY = 'sk-emulator';

const dirs: string[] = [];
function scratch(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

const log = (line: string) => process.stderr.write(`[bench-e2e] ${line}\n`);
const fmtMs = (ms: number) => `${ms.toFixed(0)} ms`;
const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

// ------------------------------------------------------------------------------------------------------------
// (a) start-up of `batchkeeper dev`

interface DevRun {
  proc: Proc;
  wallMs: number;
  selfReportedS: number;
  temporalAddress: string;
  emulatorOrigin: string;
}

async function startDev(): Promise<DevRun> {
  const dataDir = scratch('dev');
  const [temporalPort, uiPort, emulatorPort] = [await freePort(), await freePort(), await freePort()];
  const started = Date.now();
  const proc = spawnTracked(
    'npx',
    [
      'tsx',
      'src/cli/main.ts',
      'dev',
      '--data-dir',
      dataDir,
      '--temporal-port',
      String(temporalPort),
      '--ui-port',
      String(uiPort),
      '--emulator-port',
      String(emulatorPort),
    ],
    { cwd: REPO, env: cleanEnv(), processGroup: true, logFile: join(dataDir, 'dev.log') },
  );
  await proc.waitFor(/batchkeeper is ready \(/, 180_000);
  const wallMs = Date.now() - started;
  const m = /batchkeeper is ready \(([\d.]+) s\)/.exec(proc.stdout());
  return {
    proc,
    wallMs,
    selfReportedS: m ? Number(m[1]) : NaN,
    temporalAddress: `127.0.0.1:${temporalPort}`,
    emulatorOrigin: `http://127.0.0.1:${emulatorPort}`,
  };
}

// ------------------------------------------------------------------------------------------------------------
// (b) cancel latency

async function emulatorCalls(origin: string): Promise<CallLogEntry[]> {
  const res = await fetch(`${origin}/admin/calls`);
  if (!res.ok) throw new Error(`GET /admin/calls: HTTP ${res.status}`);
  return ((await res.json()) as { data: CallLogEntry[] }).data;
}

/** Waits until the emulator logged the cancel call for the batch; returns its arrival time (wall ms). */
async function cancelCallAt(origin: string, batchId: string, timeoutMs = 30_000): Promise<number> {
  const calls = await waitUntil(
    `the provider cancel of ${batchId}`,
    () => emulatorCalls(origin),
    (cs) => cs.some((c) => c.route === 'batches.cancel' && c.path.includes(batchId)),
    { timeoutMs, intervalMs: 10 },
  );
  const hits = calls.filter((c) => c.route === 'batches.cancel' && c.path.includes(batchId));
  if (hits.length !== 1) throw new Error(`${hits.length} provider cancels for ${batchId}`);
  return hits[0].at;
}

interface CancelBench {
  libraryMs: number[];
  /** How long `BatchkeeperClient.cancel` itself took (the signal and a describe). */
  callMs: number[];
  cliToCallMs: number[];
  cliProcessMs: number[];
  /** Library-cancelled workflows that ended `cancelled` with exactly one provider cancel call. */
  closedCancelled: number;
}

async function benchCancel(dev: DevRun): Promise<CancelBench> {
  const openai = openaiClient(`${dev.emulatorOrigin}/v1`, DEV_KEY);
  const total = CANCELS + CLI_CANCELS;
  log(`(b) creating ${total} batches on the dev stack's emulator`);
  // 400 requests at the dev emulator's 0.5 s each: over three minutes of running, well past the measurement.
  const batchIds = await pool(Array.from({ length: total }), 10, async (_, i) => {
    return (await createBatch(openai, 400, `cancel${i}`)).batchId;
  });
  const conn: ConnectedClient = await connectClient({ address: dev.temporalAddress, env: {} });
  try {
    const bk = new BatchkeeperClient(conn.client, { taskQueue: 'batchkeeper' });
    await pool(batchIds, 20, (id) =>
      bk.track(id, { provider: DEV_PROVIDER, pollPolicy: { maxIntervalSeconds: 30 } }),
    );
    log(`(b) tracking ${total}; waiting for every workflow's first poll`);
    for (const id of batchIds) {
      await waitUntil(
        `first poll of ${id}`,
        () => bk.status(id),
        (s) => s.source === 'query' && s.view.snapshot !== null,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    }
    // Let the first polls' activity bursts settle, as for a batch tracked for a while.
    await sleep(2000);

    const libraryMs: number[] = [];
    const callMs: number[] = [];
    for (const id of batchIds.slice(0, CANCELS)) {
      const t0 = Date.now();
      await bk.cancel(id, { reason: 'bench', requestedBy: 'bench-e2e' });
      callMs.push(Date.now() - t0);
      libraryMs.push((await cancelCallAt(dev.emulatorOrigin, id)) - t0);
    }
    // The cancelled workflows now poll, download partial results and bill; let that finish before timing the
    // CLI, so node start-ups and that burst do not compete for the same cores.
    log(`(b) ${CANCELS} library cancels done; waiting for those workflows to close`);
    const outcomes = await pool(batchIds.slice(0, CANCELS), 20, (id) =>
      bk.waitForOutcome(id, { timeoutMs: 120_000 }),
    );
    const cancelCalls = (await emulatorCalls(dev.emulatorOrigin)).filter((c) => c.route === 'batches.cancel');
    const closedCancelled = outcomes.filter(
      (o) => o.status === 'cancelled' && cancelCalls.filter((c) => c.path.includes(o.batchId)).length === 1,
    ).length;
    log(`(b) now ${CLI_CANCELS} \`batchkeeper cancel\` processes`);
    const cliToCallMs: number[] = [];
    const cliProcessMs: number[] = [];
    for (const id of batchIds.slice(CANCELS)) {
      const t0 = Date.now();
      const run = await runBatchkeeper(
        [
          '--address',
          dev.temporalAddress,
          'cancel',
          id,
          '--reason',
          'bench',
          '--requested-by',
          'bench-e2e-cli',
        ],
        { env: cleanEnv(), timeoutMs: 60_000 },
      );
      if (run.code !== 0) throw new Error(`batchkeeper cancel exited ${run.code}: ${run.stderr}`);
      cliProcessMs.push(run.ms);
      cliToCallMs.push((await cancelCallAt(dev.emulatorOrigin, id)) - t0);
    }
    return { libraryMs, callMs, cliToCallMs, cliProcessMs, closedCancelled };
  } finally {
    await conn.close();
  }
}

// ------------------------------------------------------------------------------------------------------------
// (c) worker memory with many batches tracked

interface PollTiming {
  /** Timer lengths the workflows chose (s). */
  timerS: number[];
  /** From a timer firing to the retrieve activity starting (ms): the backend's and worker's share of a cycle. */
  firedToActivityMs: number[];
  /** From one retrieve's start to the next (s). */
  cycleS: number[];
}

const ts = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN;

/** Where a poll cycle's time goes, from the histories of a sample of workflows (timer vs. dispatch latency). */
async function pollTiming(client: ConnectedClient['client'], batchIds: string[]): Promise<PollTiming> {
  const out: PollTiming = { timerS: [], firedToActivityMs: [], cycleS: [] };
  for (const id of batchIds) {
    const history = await client.workflow.getHandle(`batch-${id}`).fetchHistory();
    let firedAt: number | null = null;
    let lastStart: number | null = null;
    for (const e of history.events ?? []) {
      const at = ts(e.eventTime);
      if (e.timerStartedEventAttributes)
        out.timerS.push(ts(e.timerStartedEventAttributes.startToFireTimeout) / 1000);
      if (e.timerFiredEventAttributes) firedAt = at;
      if (e.activityTaskStartedEventAttributes) {
        if (firedAt !== null) out.firedToActivityMs.push(at - firedAt);
        if (lastStart !== null) out.cycleS.push((at - lastStart) / 1000);
        firedAt = null;
        lastStart = at;
      }
    }
  }
  return out;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at state; utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

interface MemoryBench {
  batches: number;
  createS: number;
  trackS: number;
  firstPollS: number;
  idleRssMb: number;
  peakRssMb: number;
  hwmMb: number;
  steadyRssMb: number;
  retrievesPerS: number;
  timing: PollTiming;
  /** CPU use over the sampling window, in % of one core. */
  cpu: { worker: number; temporal: number; bench: number };
  running: number;
  /** Warnings and errors the worker logged after it was ready (failed workflow or activity tasks among them). */
  problems: string[];
  samples: number;
}

async function benchMemory(cliPath: string): Promise<MemoryBench> {
  const dir = scratch('mem');
  let devServer: DevServer | null = null;
  let emulator: EmulatorHandle | null = null;
  let conn: ConnectedClient | null = null;
  try {
    devServer = await startDevServer({
      cliPath,
      dataDir: join(dir, 'temporal'),
      port: await freePort(),
      uiPort: await freePort(),
    });
    // Ten requests of 60 s each: every batch runs ten minutes, its counts move once a minute.
    emulator = await startEmulator({ requestSeconds: 60, validatingSeconds: 2 });
    const taskQueue = `bench-mem-${process.pid}`;
    const worker = await startWorkerProcess(
      workerEnv({
        address: devServer.address,
        taskQueue,
        emulatorUrl: emulator.url,
        emulatorKey: emulator.apiKey,
        ledgerPath: join(dir, 'ledger.sqlite'),
        dataDir: dir,
        logLevel: 'info',
      }),
      { cwd: dir, logFile: join(dir, 'worker.log'), readyTimeoutMs: 120_000 },
    );
    await sleep(1000);
    const idleRssMb = procStatusKb(worker.pid, 'VmRSS') / 1024;

    const openai = openaiClient(emulator.url, emulator.apiKey);
    log(`(c) creating ${BATCHES} batches on the emulator`);
    let t = Date.now();
    const batchIds = await pool(Array.from({ length: BATCHES }), 20, async (_, i) => {
      return (await createBatch(openai, 10, `mem${i}`)).batchId;
    });
    const createS = (Date.now() - t) / 1000;

    conn = await connectClient({ address: devServer.address, env: {} });
    const bk = new BatchkeeperClient(conn.client, { taskQueue });
    log(`(c) tracking ${BATCHES} batches (poll policy capped at 30 s)`);
    t = Date.now();
    await pool(batchIds, 50, (id) =>
      bk.track(id, { provider: EMULATOR_PROVIDER, pollPolicy: { maxIntervalSeconds: 30 } }),
    );
    const trackS = (Date.now() - t) / 1000;
    // Every workflow has polled once when the emulator has seen a retrieve for every batch.
    await waitUntil(
      'a first retrieve of every batch',
      async () => {
        const seen = new Set<string>();
        for (const c of emulator!.calls())
          if (c.route === 'batches.retrieve') seen.add(c.path.split('/').pop()!);
        return seen.size;
      },
      (n) => n >= BATCHES,
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    const firstPollS = (Date.now() - t) / 1000;

    log(`(c) all tracked; sampling the worker's RSS for ${SAMPLE_SECONDS} s`);
    const startCalls = emulator.calls().length;
    const devPid = devServer.child.pid!;
    const cpu0 = { worker: cpuSeconds(worker.pid), temporal: cpuSeconds(devPid), bench: process.cpuUsage() };
    const sampleStart = Date.now();
    const samples: { at: number; rssMb: number }[] = [];
    while (Date.now() - sampleStart < SAMPLE_SECONDS * 1000) {
      samples.push({ at: Date.now() - sampleStart, rssMb: procStatusKb(worker.pid, 'VmRSS') / 1024 });
      await sleep(1000);
    }
    const windowS = (Date.now() - sampleStart) / 1000;
    const benchCpu = process.cpuUsage(cpu0.bench);
    const cpu = {
      worker: ((cpuSeconds(worker.pid) - cpu0.worker) / windowS) * 100,
      temporal: ((cpuSeconds(devPid) - cpu0.temporal) / windowS) * 100,
      bench: ((benchCpu.user + benchCpu.system) / 1e6 / windowS) * 100,
    };
    const retrieves = emulator
      .calls()
      .slice(startCalls)
      .filter((c) => c.route === 'batches.retrieve').length;
    const hwmMb = procStatusKb(worker.pid, 'VmHWM') / 1024;

    const count = await runTemporal(cliPath, [
      'workflow',
      'count',
      '--address',
      devServer.address,
      '--query',
      `ExecutionStatus="Running" AND TaskQueue="${taskQueue}"`,
    ]);
    const running = Number(/Total:\s*(\d+)/.exec(count.stdout)?.[1] ?? NaN);
    const timing = await pollTiming(
      conn.client,
      batchIds.filter((_, i) => i % Math.max(1, Math.floor(BATCHES / 20)) === 0),
    );
    // The worker logs every failed workflow or activity task as a warning or error.
    const logged = worker.stdout();
    const afterReady = logged.slice(Math.max(0, logged.indexOf('"msg":"worker ready"')));
    const problems = afterReady
      .split('\n')
      .filter((l) => /"level":(40|50|60)/.test(l))
      .map((l) => /"msg":"([^"]{0,120})/.exec(l)?.[1] ?? l.slice(0, 120));

    const lastHalf = samples.filter((s) => s.at >= (SAMPLE_SECONDS * 1000) / 2).map((s) => s.rssMb);
    return {
      batches: BATCHES,
      createS,
      trackS,
      firstPollS,
      idleRssMb,
      peakRssMb: Math.max(...samples.map((s) => s.rssMb)),
      hwmMb,
      steadyRssMb: median(lastHalf),
      retrievesPerS: retrieves / windowS,
      timing,
      cpu,
      running,
      problems,
      samples: samples.length,
    };
  } finally {
    await conn?.close();
    await stopAll();
    await emulator?.close();
    await devServer?.stop();
  }
}

// ------------------------------------------------------------------------------------------------------------

const sorted = (v: number[]) => [...v].sort((a, b) => a - b);

function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
}

async function main(): Promise<void> {
  const cliPath = findTemporalCli();
  if (!cliPath) throw new Error('no Temporal CLI: run `npm run provision` or set TEMPORAL_CLI_PATH');
  const out: string[] = [];

  // (a)
  const starts: DevRun[] = [];
  let dev: DevRun | null = null;
  for (let i = 0; PARTS.has('a') && i < STARTS; i++) {
    log(`(a) start ${i + 1}/${STARTS}: npx tsx src/cli/main.ts dev (fresh data dir)`);
    const run = await startDev();
    starts.push(run);
    if (i < STARTS - 1) await run.proc.stop(15_000);
    else dev = run;
  }
  if (PARTS.has('a'))
    out.push(
      '(a) `npx tsx src/cli/main.ts dev` to "batchkeeper is ready" (fresh --data-dir, free ports)',
      table([
        ...starts.map((s, i): [string, string] => [
          `run ${i + 1}`,
          `${fmtS(s.wallMs)} wall from spawn (self-reported ${s.selfReportedS.toFixed(1)} s)`,
        ]),
        ['median', `${fmtS(median(starts.map((s) => s.wallMs)))} wall`],
      ]),
    );

  if (PARTS.has('b')) {
    dev ??= await startDev();
    const c = await benchCancel(dev);
    await dev.proc.stop(15_000);
    const lib = sorted(c.libraryMs);
    log(`(b) library latencies in order of the cancels (ms): ${c.libraryMs.join(' ')}`);
    const cli = sorted(c.cliToCallMs);
    log(
      `(b) CLI: from spawn to provider call / process run time (ms): ` +
        c.cliToCallMs.map((v, i) => `${v}/${c.cliProcessMs[i]}`).join(' '),
    );
    out.push(
      '',
      '(b) cancel -> provider cancel call (emulator call log `at`), `batchkeeper dev` stack',
      table([
        [
          `client library, n=${lib.length}`,
          `median ${fmtMs(median(lib))}, p90 ${fmtMs(nearestRank(lib, 90))}, p99 ${fmtMs(nearestRank(lib, 99))}, ` +
            `min ${fmtMs(lib[0])}, max ${fmtMs(lib[lib.length - 1])}`,
        ],
        ['  of which cancel() returned after', `median ${fmtMs(median(c.callMs))} (signal + describe RPCs)`],
        ['  ended cancelled, one provider cancel', `${c.closedCancelled} of ${lib.length}`],
        [
          `CLI process, n=${cli.length}`,
          `median ${fmtMs(median(cli))}, max ${fmtMs(cli[cli.length - 1])} from spawn; the process runs ` +
            `${fmtMs(median(c.cliProcessMs))} (median): node + tsx start-up dominates`,
        ],
      ]),
    );
  }
  await dev?.proc.stop(15_000);

  // (c)
  if (PARTS.has('c')) {
    const m = await benchMemory(cliPath);
    out.push(
      '',
      `(c) worker with ${m.batches} batches tracked at once (poll cap 30 s), ${m.samples} RSS samples over ${SAMPLE_SECONDS} s`,
      table([
        [
          'create / track / all polled',
          `${m.createS.toFixed(1)} s / ${m.trackS.toFixed(1)} s / ${m.firstPollS.toFixed(1)} s`,
        ],
        ['worker RSS idle', `${m.idleRssMb.toFixed(0)} MB`],
        ['worker RSS peak (sampled)', `${m.peakRssMb.toFixed(0)} MB (VmHWM ${m.hwmMb.toFixed(0)} MB)`],
        ['worker RSS steady', `${m.steadyRssMb.toFixed(0)} MB (median of the last half)`],
        [
          'provider calls',
          `${m.retrievesPerS.toFixed(1)} retrieves/s = one poll per batch every ` +
            `${(m.batches / m.retrievesPerS).toFixed(0)} s (policy cap 30 s)`,
        ],
        [
          'poll cycle (20 histories)',
          `timer ${median(m.timing.timerS).toFixed(0)} s (median); timer fired -> retrieve started ` +
            `${fmtMs(median(m.timing.firedToActivityMs))} median, ` +
            `${fmtMs(nearestRank(sorted(m.timing.firedToActivityMs), 90))} p90; ` +
            `retrieve to retrieve ${median(m.timing.cycleS).toFixed(1)} s median`,
        ],
        [
          'CPU (% of one core)',
          `worker ${m.cpu.worker.toFixed(0)} %, Temporal dev server ${m.cpu.temporal.toFixed(0)} %, ` +
            `bench + emulator ${m.cpu.bench.toFixed(0)} % (${cpus().length} cores)`,
        ],
        ['running workflows', `${m.running} of ${m.batches} (temporal workflow count)`],
        [
          'warnings/errors logged',
          m.problems.length === 0
            ? '0 (no failed workflow or activity task)'
            : `${m.problems.length}: ${[...new Set(m.problems)].slice(0, 3).join(' | ')}`,
        ],
      ]),
    );
  }
  process.stdout.write(out.join('\n') + '\n');
}

void main()
  .catch((err: unknown) => {
    process.exitCode = 1;
    process.stderr.write(
      `bench-e2e failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  })
  .finally(async () => {
    await stopAll(15_000);
    if (!process.env.BK_E2E_KEEP) for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

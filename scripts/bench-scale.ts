/**
 * Scale benchmark (run: npm run bench:scale): per-batch polling against fleet polling, side by side in one run, on
 * one Temporal dev server (SQLite) and one emulator (fast clock, in this process), at each size in
 * BENCH_SCALE_COUNTS (default 1000,10000).
 *
 * Each (size, strategy) gets a fresh `batchkeeper worker` child on its own task queue, its profile with fleet
 * polling off (per-batch) or on (fleet), the same rate budget (BENCH_SCALE_RATE, 500/s: high enough not to
 * throttle either, so calls are what each strategy asks for). N batches of 10 requests are created on the emulator,
 * tracked, and followed until all are finished or BENCH_SCALE_MAX_MINUTES (12) passed. Reported:
 * - provider calls (retrieve, list, cancel; from the emulator's log) per wall hour over the run;
 * - worker RSS (peak and median, sampled every 2 s), CPU of worker, dev server and this process (the emulator);
 * - lateness: wall seconds from a batch's completed_at to the retrieve that confirmed it, p50/p99;
 * - workflow task schedule-to-start latency (the worker's Prometheus histogram), p50/p99;
 * - batches finished within the time box.
 *
 * The worker runs with MALLOC_ARENA_MAX=2 as the image does (BENCH_SCALE_MALLOC_ARENA_MAX; empty: glibc's default),
 * BENCH_SCALE_MAX_CACHED_WORKFLOWS as its workflow cache and BENCH_SCALE_WORKER_NODE_OPTIONS as its NODE_OPTIONS.
 * A long BENCH_SCALE_REQUEST_SECONDS (e.g. 7200: 20 min a batch) keeps every batch in flight for the whole run.
 *
 * BENCH_SCALE_TEMPORAL_ADDRESS runs it against a Temporal server already up instead of a fresh dev server (e.g. the
 * PostgreSQL-backed one of scripts/start-temporal-postgres.sh), BENCH_SCALE_TEMPORAL_PIDS (comma-separated) naming
 * its processes for the CPU column (their descendants, PostgreSQL's backends, included).
 *
 * Emulated batches: validating 120 s, 10 requests of BENCH_SCALE_REQUEST_SECONDS (1440) each, finalizing 120 s: a
 * 4 h batch, at BENCH_SCALE_SPEED (60) about 4.1 min of wall time. Every process is stopped at the end.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toFile } from 'openai';
import { BatchkeeperClient, connectClient, type ConnectedClient } from '../src/client';
import { findTemporalCli, startDevServer, type DevServer } from '../src/dev/temporal-cli';
import { startEmulator, type EmulatorHandle } from '../src/emulator';
import {
  EMULATOR_PROVIDER,
  freePort,
  nearestRank,
  openaiClient,
  sleep,
  startWorkerProcess,
  stopAll,
  tempDir,
  workerEnv,
  type Proc,
} from '../test/e2e/harness';
import { pool } from './pool';

const COUNTS = (process.env.BENCH_SCALE_COUNTS ?? '1000,10000').split(',').map(Number);
const STRATEGIES = (process.env.BENCH_SCALE_STRATEGIES ?? 'per-batch,fleet').split(',') as Strategy[];
const MAX_MINUTES = Number(process.env.BENCH_SCALE_MAX_MINUTES ?? 12);
const SPEED = Number(process.env.BENCH_SCALE_SPEED ?? 60);
const REQUEST_SECONDS = Number(process.env.BENCH_SCALE_REQUEST_SECONDS ?? 1440);
const RATE = Number(process.env.BENCH_SCALE_RATE ?? 500);
const SAMPLE_MS = 2000;
/** A Temporal server already running (e.g. scripts/start-temporal-postgres.sh) instead of a fresh dev server. */
const EXTERNAL_ADDRESS = process.env.BENCH_SCALE_TEMPORAL_ADDRESS;
/** Its processes, for the CPU column (each with its children: PostgreSQL's backends). */
const EXTERNAL_PIDS = (process.env.BENCH_SCALE_TEMPORAL_PIDS ?? '').split(',').filter(Boolean).map(Number);
const CLOCK_TICKS = 100;

type Strategy = 'per-batch' | 'fleet';

const log = (line: string) => process.stderr.write(`[bench-scale] ${new Date().toISOString()} ${line}\n`);

function procKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** CPU seconds of these processes and all their descendants. */
function treeCpuSeconds(roots: number[]): number {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (roots.includes(p)) return true;
    }
    return false;
  };
  let total = 0;
  for (const pid of parent.keys()) if (inTree(pid)) total += cpuSeconds(pid) || 0;
  return total;
}

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** p-quantile of a Prometheus histogram (cumulative `le` buckets), linear inside the bucket. */
function histogramQuantile(text: string, metric: string, q: number): number | null {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || !Number.isFinite(value)) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(bound)) return prevBound;
      return prevBound + ((rank - prevCount) / Math.max(1, count - prevCount)) * (bound - prevBound);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

interface RunResult {
  n: number;
  strategy: Strategy;
  finished: number;
  wallS: number;
  calls: { retrieve: number; list: number; cancel: number };
  callsPerHour: number;
  rssPeakMb: number;
  rssMedianMb: number;
  cpu: { worker: number; temporal: number; bench: number };
  lateness: { p50: number; p99: number; max: number; n: number };
  wftLatencyMs: { p50: number | null; p99: number | null };
  trackS: number;
}

async function createBatches(emulator: EmulatorHandle, n: number, tag: string): Promise<string[]> {
  const openai = openaiClient(emulator.url, emulator.apiKey);
  const lines = Array.from({ length: 10 }, (_, i) =>
    JSON.stringify({
      custom_id: `${tag}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `r${i}` }] },
    }),
  );
  const file = await openai.files.create({
    file: await toFile(Buffer.from(lines.join('\n') + '\n'), `${tag}.jsonl`),
    purpose: 'batch',
  });
  return pool(Array.from({ length: n }), 32, async () => {
    const b = await openai.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    return b.id;
  });
}

async function runOne(
  temporal: { address: string; pids: number[] },
  conn: ConnectedClient,
  emulator: EmulatorHandle,
  n: number,
  strategy: Strategy,
): Promise<RunResult> {
  const dir = tempDir(`scale-${strategy}-${n}`);
  const taskQueue = `bench-scale-${strategy}-${n}-${process.pid}`;
  const metricsPort = await freePort();
  const env = workerEnv({
    address: temporal.address,
    taskQueue,
    emulatorUrl: emulator.url,
    emulatorKey: emulator.apiKey,
    ledgerPath: join(dir, 'ledger.sqlite'),
    dataDir: dir,
    logLevel: 'info',
    profile: { fleetPolling: strategy === 'fleet', rateLimitPerSecond: RATE },
  });
  env.BATCHKEEPER_METRICS_PORT = String(metricsPort);
  env.BATCHKEEPER_MAX_CONCURRENT_ACTIVITIES = '200';
  // E.g. `--max-old-space-size=768`: the worker's heap cap (its RSS follows it; docs/scale.md, sizing workers).
  if (process.env.BENCH_SCALE_WORKER_NODE_OPTIONS) {
    env.NODE_OPTIONS = process.env.BENCH_SCALE_WORKER_NODE_OPTIONS;
  }
  // As the image sets it (Dockerfile); BENCH_SCALE_MALLOC_ARENA_MAX='' measures glibc's default instead.
  const arenas = process.env.BENCH_SCALE_MALLOC_ARENA_MAX ?? '2';
  if (arenas) env.MALLOC_ARENA_MAX = arenas;
  // The worker's workflow cache (unset: the SDK's default from the heap limit).
  if (process.env.BENCH_SCALE_MAX_CACHED_WORKFLOWS) {
    env.BATCHKEEPER_MAX_CACHED_WORKFLOWS = process.env.BENCH_SCALE_MAX_CACHED_WORKFLOWS;
  }
  let worker: Proc | null = null;
  try {
    worker = await startWorkerProcess(env, {
      cwd: dir,
      logFile: join(dir, 'worker.log'),
      readyTimeoutMs: 120_000,
    });
    log(`${strategy} ${n}: creating ${n} batches on the emulator`);
    const ids = await createBatches(emulator, n, `${strategy}${n}`);
    emulator.clearCalls();
    const bk = new BatchkeeperClient(conn.client, { taskQueue });
    const start = Date.now();
    const cpu0 = {
      worker: cpuSeconds(worker.pid),
      temporal: treeCpuSeconds(temporal.pids),
      bench: process.cpuUsage(),
    };
    const rss: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rss.push(procKb(worker.pid, 'VmRSS') / 1024);
        await sleep(SAMPLE_MS);
      }
    })();
    log(`${strategy} ${n}: tracking`);
    await pool(ids, 50, (id) => bk.track(id, { provider: EMULATOR_PROVIDER }));
    const trackS = (Date.now() - start) / 1000;
    log(`${strategy} ${n}: tracked in ${trackS.toFixed(1)} s; waiting for them to finish`);
    let finished = 0;
    const deadline = start + MAX_MINUTES * 60_000;
    while (Date.now() < deadline) {
      await sleep(5000);
      finished = (
        await conn.client.workflow.count(
          `TaskQueue = '${taskQueue}' AND WorkflowType = 'batchLifecycle' AND ExecutionStatus = 'Completed'`,
        )
      ).count;
      log(`${strategy} ${n}: ${finished}/${n} finished, worker RSS ${rss.at(-1)?.toFixed(0)} MB`);
      if (finished >= n) break;
    }
    const wallS = (Date.now() - start) / 1000;
    sampling = false;
    await sampler;
    const benchCpu = process.cpuUsage(cpu0.bench);
    const cpu = {
      worker: ((cpuSeconds(worker.pid) - cpu0.worker) / wallS) * 100,
      temporal: ((treeCpuSeconds(temporal.pids) - cpu0.temporal) / wallS) * 100,
      bench: ((benchCpu.user + benchCpu.system) / 1e6 / wallS) * 100,
    };
    const calls = emulator.calls();
    const count = (route: string) => calls.filter((c) => c.route === route).length;
    const lastRetrieve = new Map<string, number>();
    for (const c of calls) {
      if (c.route === 'batches.retrieve')
        lastRetrieve.set(c.path.slice(c.path.lastIndexOf('/') + 1), c.clockAt);
    }
    const late: number[] = [];
    for (const id of ids) {
      const completedAt = emulator.batch(id)?.state.completedAt;
      const seen = lastRetrieve.get(id);
      if (completedAt === undefined || seen === undefined || seen < completedAt) continue;
      late.push((seen - completedAt) / SPEED);
    }
    late.sort((a, b) => a - b);
    let metrics = '';
    try {
      metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    } catch {
      metrics = '';
    }
    const wft = (q: number) => {
      const v = histogramQuantile(metrics, 'temporal_workflow_task_schedule_to_start_latency', q);
      return v === null ? null : v * (metrics.includes('schedule_to_start_latency_seconds') ? 1000 : 1);
    };
    const calledTotal = count('batches.retrieve') + count('batches.list') + count('batches.cancel');
    const sortedRss = [...rss].filter(Number.isFinite).sort((a, b) => a - b);
    return {
      n,
      strategy,
      finished,
      wallS,
      calls: {
        retrieve: count('batches.retrieve'),
        list: count('batches.list'),
        cancel: count('batches.cancel'),
      },
      callsPerHour: (calledTotal / wallS) * 3600,
      rssPeakMb: Math.max(sortedRss.at(-1) ?? NaN, procKb(worker.pid, 'VmHWM') / 1024),
      rssMedianMb: nearestRank(sortedRss, 50),
      cpu,
      lateness: {
        p50: nearestRank(late, 50),
        p99: nearestRank(late, 99),
        max: late.at(-1) ?? NaN,
        n: late.length,
      },
      wftLatencyMs: { p50: wft(0.5), p99: wft(0.99) },
      trackS,
    };
  } finally {
    await worker?.stop(20_000);
  }
}

function table(results: RunResult[]): string {
  const head = [
    'batches',
    'strategy',
    'finished',
    'wall s',
    'retrieve',
    'list',
    'calls/h',
    'RSS peak MB',
    'RSS median MB',
    'late p50 s',
    'late p99 s',
    'WFT s2s p50 ms',
    'WFT s2s p99 ms',
    'CPU worker %',
    'CPU temporal %',
    'CPU emulator+bench %',
  ];
  const f = (v: number | null, d = 0) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));
  const rows = results.map((r) => [
    String(r.n),
    r.strategy,
    String(r.finished),
    f(r.wallS),
    String(r.calls.retrieve),
    String(r.calls.list),
    f(r.callsPerHour),
    f(r.rssPeakMb),
    f(r.rssMedianMb),
    f(r.lateness.p50, 1),
    f(r.lateness.p99, 1),
    f(r.wftLatencyMs.p50),
    f(r.wftLatencyMs.p99),
    f(r.cpu.worker),
    f(r.cpu.temporal),
    f(r.cpu.bench),
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const cliPath = findTemporalCli();
  if (!cliPath) throw new Error('no Temporal CLI: run `npm run provision` (scripts/provision-temporal.sh)');
  const dir = tempDir('scale');
  let devServer: DevServer | null = null;
  let emulator: EmulatorHandle | null = null;
  let conn: ConnectedClient | null = null;
  const results: RunResult[] = [];
  try {
    if (!EXTERNAL_ADDRESS) {
      devServer = await startDevServer({
        cliPath,
        dataDir: join(dir, 'temporal'),
        port: await freePort(),
        uiPort: await freePort(),
        logFile: join(dir, 'temporal.log'),
      });
    }
    const temporal = EXTERNAL_ADDRESS
      ? { address: EXTERNAL_ADDRESS, pids: EXTERNAL_PIDS }
      : { address: (devServer as DevServer).address, pids: [(devServer as DevServer).child.pid ?? 0] };
    emulator = await startEmulator({
      speed: SPEED,
      validatingSeconds: 120,
      requestSeconds: REQUEST_SECONDS,
      finalizingSeconds: 120,
    });
    conn = await connectClient({ address: temporal.address, env: {} });
    for (const n of COUNTS) {
      for (const strategy of STRATEGIES) {
        const r = await runOne(temporal, conn, emulator, n, strategy);
        results.push(r);
        log(`${strategy} ${n}: ${JSON.stringify(r)}`);
      }
    }
  } finally {
    await conn?.close();
    await stopAll();
    await emulator?.close();
    await devServer?.stop();
  }
  process.stdout.write(
    `\nbench:scale — Temporal: ${EXTERNAL_ADDRESS ? `server at ${EXTERNAL_ADDRESS}` : 'dev server (SQLite)'}, emulator speed ${SPEED}x, 4 h batches of 10 requests, rate budget ${RATE}/s, ` +
      `time box ${MAX_MINUTES} min a run\n\n${table(results)}\n`,
  );
  for (const n of COUNTS) {
    const per = results.find((r) => r.n === n && r.strategy === 'per-batch');
    const fleet = results.find((r) => r.n === n && r.strategy === 'fleet');
    if (per && fleet) {
      process.stdout.write(
        `\n${n} batches: fleet makes ${(fleet.callsPerHour / per.callsPerHour).toFixed(3)} of per-batch ` +
          `polling's calls an hour (goal <= 0.067); lateness p99 ${fleet.lateness.p99.toFixed(1)} s vs ` +
          `${per.lateness.p99.toFixed(1)} s (goal < 60 s)\n`,
      );
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

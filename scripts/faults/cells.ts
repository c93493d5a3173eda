// The matrix: crash points (the worker SIGKILLed right after a side effect, then restarted), outages (the
// Temporal dev server or the emulator restarted with their state on disk) and provider faults at 20 % of every
// endpoint. Each cell runs the same workload in a world of its own and is counted the same way.
import { WorkflowNotFoundError } from '@temporalio/common';
import type { EmulatorOptions, FaultConfig } from '../../src/emulator';
import { rmSync } from 'node:fs';
import { sleep, tempDir } from '../../test/e2e/harness';
import { CRASH_POINTS, type CrashPoint } from '../../activities/crash-points';
import { countCell, emptyCounts, type CellCounts } from './count';
import { startTemporalServer, type TemporalServer } from './temporal';
import {
  DEFAULT_SHAPE,
  POLL_CAP_SECONDS,
  cancelWhenCreated,
  providerBatchesOf,
  submitWorkload,
  type WorkloadShape,
} from './workload';
import { PROVIDER_TIMEOUT_MS, startCellWorld, type CellWorld } from './world';

export interface CellSpec {
  id: string;
  /** `window`: a known unsafe window, run to show what the user sees; not part of the zero-loss totals. */
  kind: 'crash' | 'outage' | 'fault' | 'window';
  /** What the cell does, for the report. */
  what: string;
  crashAt?: CrashPoint;
  restart?: 'temporal' | 'emulator';
  faults?: FaultConfig;
  /** More emulator options: another provider's behaviour. */
  provider?: Pick<EmulatorOptions, 'fileListing' | 'profile'>;
}

export interface CellResult {
  id: string;
  kind: CellSpec['kind'];
  what: string;
  counts: CellCounts;
  /** Did the fault happen (the worker died at its point, the server restarted)? A cell that did not fails. */
  injected: boolean;
  notes: string[];
  wallMs: number;
}

const RATE = 0.2;
const CRASH_WHAT: Record<CrashPoint, string> = {
  'after-upload': 'worker SIGKILL after the upload, before the create',
  'after-create': 'worker SIGKILL after the create, before the child workflow starts',
  'after-cancel': 'worker SIGKILL after the provider accepted the cancel, before the workflow recorded it',
  'during-download': 'worker SIGKILL during a results download',
  'after-cleanup': 'worker SIGKILL between the remote clean-up and the ledger write',
  'during-record-outcome': 'worker SIGKILL during recordOutcome (row written, activity not completed)',
};

export const CELLS: CellSpec[] = [
  ...CRASH_POINTS.map((p): CellSpec => ({
    id: `crash-${p}`,
    kind: 'crash',
    what: CRASH_WHAT[p],
    crashAt: p,
  })),
  {
    id: 'restart-temporal',
    kind: 'outage',
    what: 'Temporal dev server SIGKILLed mid-flight, restarted on its database',
    restart: 'temporal',
  },
  {
    id: 'restart-emulator',
    kind: 'outage',
    what: 'provider (emulator) restarted on its state dir while batches run',
    restart: 'emulator',
  },
  {
    id: 'fault-429',
    kind: 'fault',
    what: '429 with Retry-After 1 s on 20 % of every call',
    faults: { rateLimit: { rate: RATE, retryAfterSeconds: 1 }, seed: 429 },
  },
  {
    id: 'fault-500',
    kind: 'fault',
    what: '500 on 20 % of every call',
    faults: { serverError: { rate: RATE, status: 500 }, seed: 500 },
  },
  {
    id: 'fault-503',
    kind: 'fault',
    what: '503 on 20 % of every call',
    faults: { serverError: { rate: RATE, status: 503 }, seed: 503 },
  },
  {
    id: 'fault-latency',
    kind: 'fault',
    what:
      `latency ${PROVIDER_TIMEOUT_MS + 1000} ms (beyond the ${PROVIDER_TIMEOUT_MS} ms call timeout) on 20 % of every ` +
      'call, the call taking effect when it ends (lateEffect)',
    faults: { latencyMs: { ms: PROVIDER_TIMEOUT_MS + 1000, rate: RATE, lateEffect: true }, seed: 7 },
  },
  {
    id: 'fault-reset-before',
    kind: 'fault',
    what: 'connection reset before the handler on 20 % of every call',
    faults: { dropConnection: { rate: RATE }, seed: 11 },
  },
  {
    id: 'fault-reset-after',
    kind: 'fault',
    what: 'connection reset after the handler ran (effect applied, answer lost) on 20 % of every call',
    faults: { dropConnection: { rate: RATE, afterHandler: true }, seed: 13 },
  },
];

/** Known unsafe windows (docs/faults.md): run on request (`--cells window-late-create`), outside the totals. */
export const WINDOW_CELLS: CellSpec[] = [
  {
    id: 'window-late-create',
    kind: 'window',
    what:
      'one create lands 12 s after it was sent, long after the client timed out (2 s) and the retry ' +
      '(5 s backoff) looked for it and created its own',
    faults: { latencyMs: { ms: 12_000, nextN: 1, only: 'batches.create', lateEffect: true } },
  },
  {
    id: 'window-no-file-listing',
    kind: 'window',
    what:
      'worker SIGKILL after the upload, before the create, on a compatible provider without file listing ' +
      '(GET /files answers 404): the retry cannot find the upload',
    crashAt: 'after-upload',
    provider: { fileListing: 404 },
  },
];

/**
 * How long after the provider is terminal (plus the poll cap) a workflow may take to close: a dead worker's file
 * activity (create, download, clean-up) is retried only after its 2-minute heartbeat timeout, and under a fault
 * storm an activity that failed several times in a row waits up to the retry policy's 5-minute interval.
 */
const GRACE_MS = 300_000;
const CELL_TIMEOUT_MS = 720_000;

export interface RunOptions {
  shape?: WorkloadShape;
  log?: (line: string) => void;
}

export async function runCell(
  shared: TemporalServer,
  spec: CellSpec,
  o: RunOptions = {},
): Promise<CellResult> {
  // A restart of the Temporal server is this cell's alone: the other cells run on meanwhile.
  if (spec.restart !== 'temporal') return runCellOn(shared, spec, o);
  const dir = tempDir('faults-temporal-restart');
  const own = await startTemporalServer(dir);
  try {
    return await runCellOn(own, spec, o);
  } finally {
    await own.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runCellOn(temporal: TemporalServer, spec: CellSpec, o: RunOptions): Promise<CellResult> {
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const notes: string[] = [];
  const w = await startCellWorld(temporal, spec.id, {
    validatingSeconds: 0.5,
    // Slow enough that a cancelled batch is still running after any recovery (the longest: a dead worker's
    // file activity waits out its 2-minute heartbeat timeout): a batch that ends otherwise lost its cancel.
    requestSeconds: 1,
    finalizingSeconds: 0.5,
    cancellingSeconds: 1,
    failureRate: 0.1,
    faults: spec.faults,
    ...spec.provider,
  });
  try {
    await w.startWorker(spec.crashAt);
    const wl = await submitWorkload(w, spec.id, o.shape ?? DEFAULT_SHAPE);
    const deadline = started + CELL_TIMEOUT_MS;
    // A provider fault is active from the start (the faulted column shows it fire); the others are checked below.
    let injected = spec.kind === 'fault' || spec.kind === 'window';
    const inject = async () => {
      if (spec.crashAt) {
        const first = w.worker();
        let timer: NodeJS.Timeout | undefined;
        const exit = await Promise.race([
          first.exited,
          new Promise<null>((r) => (timer = setTimeout(() => r(null), deadline - Date.now()))),
        ]);
        clearTimeout(timer);
        if (!exit) return notes.push(`the worker never reached ${spec.crashAt}`);
        injected = exit.signal === 'SIGKILL';
        notes.push(`worker died at ${spec.crashAt} (${exit.signal ?? exit.code})`);
        await w.startWorker();
        log(`  ${spec.id}: worker killed at ${spec.crashAt}, restarted`);
      } else if (spec.restart) {
        // Mid-flight: every batch of the cancelled submission exists and runs, the others are on their way.
        while (Date.now() < deadline) {
          const b = providerBatchesOf(w, wl.cancel);
          if (b.length >= wl.cancel.parts && b.every((x) => x.status === 'in_progress')) break;
          await sleep(200);
        }
        if (spec.restart === 'temporal') await temporal.restart(3000);
        else await w.restartEmulator(3000);
        injected = true;
        notes.push(`${spec.restart} restarted after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        log(`  ${spec.id}: ${spec.restart} restarted`);
      }
    };
    await Promise.all([inject(), cancelWhenCreated(w, wl, CELL_TIMEOUT_MS)]);
    const ids = () => [wl.complete, wl.cancel].flatMap((s) => providerBatchesOf(w, s));
    // Until the provider has nothing left to do; then the workflows get the poll cap plus the grace.
    // advance(0) settles every batch (result files written when due), as a retrieve would; a batch nobody
    // tracks (a late duplicate) is otherwise never brought up to date.
    const settled = async () => {
      await w.emulator().advance(0);
      return ids().every((b) => TERMINAL.has(b.status));
    };
    while (Date.now() < deadline && !(await settled())) await sleep(500);
    const closeBy = Date.now() + POLL_CAP_SECONDS * 1000 + GRACE_MS;
    const workflowIds = () => [
      wl.complete.workflowId,
      wl.cancel.workflowId,
      ...ids().map((b) => `batch-${b.id}`),
    ];
    let open = await stillRunning(temporal, workflowIds());
    while (open.length > 0 && Date.now() < closeBy) {
      await sleep(1000);
      open = await stillRunning(temporal, workflowIds());
    }
    if (open.length > 0) notes.push(`still running: ${open.join(', ')}`);
    const counts = await countCell(w, wl, async () => open.length);
    return {
      id: spec.id,
      kind: spec.kind,
      what: spec.what,
      counts,
      injected,
      notes,
      wallMs: Date.now() - started,
    };
  } catch (err) {
    // Reported as a cell whose fault was not injected: the run fails, the other cells still report.
    notes.push(`cell failed: ${(err as Error).message.split('\n')[0]}`);
    return {
      id: spec.id,
      kind: spec.kind,
      what: spec.what,
      counts: emptyCounts(),
      injected: false,
      notes,
      wallMs: Date.now() - started,
    };
  } finally {
    await w.close().catch(() => undefined);
  }
}

const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** Workflow ids Temporal reports as running; one it does not know is not counted (a batch nobody tracks). */
async function stillRunning(temporal: TemporalServer, ids: string[]): Promise<string[]> {
  const open: string[] = [];
  for (const id of ids) {
    for (let attempt = 0; ; attempt++) {
      try {
        const d = await temporal.client.workflow.getHandle(id).describe();
        if (d.status.name === 'RUNNING') open.push(id);
        break;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) break;
        // The server may be coming back from its restart.
        if (attempt >= 10) throw err;
        await sleep(500);
      }
    }
  }
  return open;
}

export type { CellWorld };

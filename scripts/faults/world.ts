// One cell's world: the emulator in this process on a fixed port with its state in a dataDir (so it can be
// restarted), a `batchkeeper worker` child in its own process group on a fresh task queue, its SQLite ledger
// and results under the cell's directory. Shared with the CI short form (test/e2e/faults-short.test.ts).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { BatchkeeperClient, SubmissionsClient } from '../../src/client';
import {
  startEmulator,
  type CallLogEntry,
  type EmulatorHandle,
  type EmulatorOptions,
} from '../../src/emulator';
import { startWorkerProcess, tempDir, workerEnv, type Proc } from '../../test/e2e/harness';
import { CRASH_ENV, type CrashPoint } from '../../activities/crash-points';
import type { TemporalServer } from './temporal';

/** The worker's per-request timeout at the provider: the latency fault goes beyond it. */
export const PROVIDER_TIMEOUT_MS = 2000;

export interface CellWorld {
  dir: string;
  ledgerPath: string;
  resultsDir: string;
  emulator(): EmulatorHandle;
  /** Every API call the emulator logged, across its restarts. */
  calls(): CallLogEntry[];
  restartEmulator(downMs: number): Promise<void>;
  worker(): Proc;
  /** Starts a worker; `crashAt` arms a test crash point in it (docs/faults.md). */
  startWorker(crashAt?: CrashPoint): Promise<Proc>;
  submissions: SubmissionsClient;
  batches: BatchkeeperClient;
  close(): Promise<void>;
}

export async function startCellWorld(
  temporal: TemporalServer,
  name: string,
  emulatorOptions: EmulatorOptions,
): Promise<CellWorld> {
  const dir = tempDir(`faults-${name}`);
  const emuOpts: EmulatorOptions = { ...emulatorOptions, dataDir: join(dir, 'emulator') };
  let emulator = await startEmulator(emuOpts);
  const port = emulator.port;
  const earlierCalls: CallLogEntry[] = [];
  const taskQueue = `faults-${name}-${process.pid}-${Date.now()}`;
  const ledgerPath = join(dir, 'ledger.sqlite');
  const env = workerEnv({
    address: temporal.address,
    taskQueue,
    emulatorUrl: emulator.url,
    emulatorKey: emulator.apiKey,
    ledgerPath,
    dataDir: dir,
    profile: { timeoutMs: PROVIDER_TIMEOUT_MS },
  });
  let workers = 0;
  let worker: Proc | null = null;
  return {
    dir,
    ledgerPath,
    resultsDir: join(dir, 'results'),
    emulator: () => emulator,
    calls: () => [...earlierCalls, ...emulator.calls()],
    async restartEmulator(downMs) {
      const faults = emulator.faults();
      earlierCalls.push(...emulator.calls());
      await emulator.close();
      await new Promise((r) => setTimeout(r, downMs));
      emulator = await startEmulator({ ...emuOpts, port, faults });
    },
    worker: () => {
      if (!worker) throw new Error('no worker started');
      return worker;
    },
    async startWorker(crashAt) {
      workers += 1;
      worker = await startWorkerProcess(crashAt ? { ...env, [CRASH_ENV]: crashAt } : env, {
        cwd: dir,
        logFile: join(dir, `worker-${workers}.log`),
        // Its own process group: a kill takes the whole worker, whatever it spawned.
        processGroup: true,
        readyTimeoutMs: 120_000,
      });
      return worker;
    },
    submissions: new SubmissionsClient(temporal.client, { taskQueue }),
    batches: new BatchkeeperClient(temporal.client, { taskQueue }),
    async close() {
      await worker?.stop(5000);
      await emulator.close();
      // BK_E2E_KEEP=1 keeps worker logs, ledger, results and the emulator's state for a look.
      if (!process.env.BK_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { join, resolve } from 'node:path';
import type { ProviderProfile } from '../../activities/providers';
import { loadWorkerConfig } from '../config/worker-config';
import { startEmulator, type EmulatorHandle } from '../emulator';
import { cliInvocation } from '../cli/invocation';
import { startWorker } from '../worker/run-worker';
import { createLogger, type LogFormat } from '../worker/logger';
import {
  findTemporalCli,
  portOpen,
  provisionTemporalCli,
  startDevServer,
  type DevServer,
} from './temporal-cli';

export const EMULATOR_PROFILE = 'emulator';
export const EMULATOR_KEY_ENV = 'BATCHKEEPER_EMULATOR_API_KEY';
export const DEFAULT_EMULATOR_PORT = 8787;

export interface DevOptions {
  dataDir?: string;
  temporalPort?: number;
  uiPort?: number;
  emulatorPort?: number;
  /** Force the emulator on (true) or off (false); default: on when no provider key is set. */
  emulator?: boolean;
  /** Default json; the `dev` command picks pretty on a terminal (chooseLogFormat). */
  logFormat?: LogFormat;
  print?: (line: string) => void;
}

/**
 * The embedded default: a local Temporal dev server (state in a SQLite file under the data dir), the Batch API
 * emulator when no provider key is set, and the worker. Runs until SIGINT/SIGTERM, then stops all three.
 */
export async function runDev(opts: DevOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const started = Date.now();
  const dataDir = resolve(opts.dataDir ?? env.BATCHKEEPER_DATA_DIR ?? '.data');
  const temporalPort = opts.temporalPort ?? 7233;
  const uiPort = opts.uiPort ?? 8233;
  const logger = createLogger(env.BATCHKEEPER_LOG_LEVEL ?? 'warn', undefined, opts.logFormat);

  let devServer: DevServer | null = null;
  let emulator: EmulatorHandle | null = null;
  try {
    let uiUrl: string | null = null;
    if (env.TEMPORAL_ADDRESS) {
      print(`using the Temporal server at ${env.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS)`);
    } else if (await portOpen(temporalPort)) {
      print(`a Temporal server already listens on 127.0.0.1:${temporalPort}: using it`);
      env.TEMPORAL_ADDRESS = `127.0.0.1:${temporalPort}`;
    } else {
      const cliPath = findTemporalCli(env) ?? provisionTemporalCli(print);
      devServer = await startDevServer({
        cliPath,
        dataDir: join(dataDir, 'temporal'),
        port: temporalPort,
        uiPort,
      });
      env.TEMPORAL_ADDRESS = devServer.address;
      uiUrl = devServer.uiUrl;
    }

    const extraProviders: ProviderProfile[] = [];
    const hasRealKey = Boolean(env.OPENAI_API_KEY || env.DASHSCOPE_API_KEY);
    if (opts.emulator ?? !hasRealKey) {
      emulator = await startEmulator({
        port: opts.emulatorPort ?? Number(env.BATCHKEEPER_EMULATOR_PORT ?? DEFAULT_EMULATOR_PORT),
        dataDir: join(dataDir, 'emulator'),
        // Slow enough to watch progress and try a cancel: a 120-request demo batch runs for about a minute.
        requestSeconds: 0.5,
      });
      env[EMULATOR_KEY_ENV] = emulator.apiKey;
      extraProviders.push({
        name: EMULATOR_PROFILE,
        baseURL: emulator.url,
        apiKeyEnv: EMULATOR_KEY_ENV,
        kind: 'openai',
        // A demo batch lasts a minute and the local emulator has no rate limit: the fleet reports progress every
        // 10 s (its 30 min default suits batches of hours), so `status --watch` and the Web UI show it moving.
        fleetPolling: { minIntervalSeconds: 5, progressEverySeconds: 10 },
      });
    }

    const config = loadWorkerConfig(env, {
      extraProviders,
      ledgerPath: env.BATCHKEEPER_LEDGER_PATH ?? join(dataDir, 'ledger.sqlite'),
      resultsDir: env.BATCHKEEPER_RESULTS_DIR ?? join(dataDir, 'results'),
      stagingDir: env.BATCHKEEPER_STAGING_DIR ?? join(dataDir, 'staging'),
    });
    // With the emulator standing in, missing real keys are the expected state, not a warning.
    const running = await startWorker(config, { logger, env, warnMissingKeys: !emulator });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    print('');
    print(
      `batchkeeper is ready (${seconds} s): worker on task queue '${config.taskQueue}' at ${running.address}`,
    );
    if (uiUrl) print(`  Temporal Web UI:  ${uiUrl}`);
    if (emulator)
      print(`  Batch API emulator: ${emulator.url} (provider profile '${EMULATOR_PROFILE}'; no API key set)`);
    print(`  Ledger:           ${config.ledger.databaseUrl ? 'postgres' : config.ledger.sqlitePath}`);
    print(`  Results:          ${config.resultsDir}`);
    print('');
    const bk = cliInvocation();
    print('Next, in another terminal:');
    if (emulator) print(`  ${bk} demo        # create a demo batch on the emulator and track it`);
    print(`  ${bk} track <batch_id> --provider <profile>`);
    print(`  ${bk} status <batch_id> --watch`);
    print(`  ${bk} cancel <batch_id> --reason "not needed"`);
    print(`  ${bk} billing`);
    print('Ctrl-C stops everything.');
    await running.done;
  } finally {
    await emulator?.close();
    await devServer?.stop();
    print('stopped');
  }
}

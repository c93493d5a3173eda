import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { armedCrashPoint } from '../../activities/crash-points';
import { ledgerSink } from './ledger-sink';
import { ProviderRegistry } from '../../activities/providers';
import { keyStatus } from '../config/providers';
import type { WorkerConfig } from '../config/worker-config';
import { TemporalConnectError } from '../client/errors';
import { openLedger } from '../ledger';
import { createLogger, temporalLogger, type Pino } from './logger';
import { HISTOGRAM_BUCKETS, createMetrics, startSeriesAtZero } from './metrics';
import { startInFlightGauge, type InFlightGauge } from './in-flight';
import { meteredLedgerSink, querySighting } from './outcome-metrics';
import { MeteredProviderRegistry } from './provider-calls';
import { createProviderQueueWorkers } from './provider-queues';
import { registerSearchAttributes } from './search-attributes';
import { preloadModules } from './workflow-bundle-options';

/** Built by `npm run build`; production starts skip bundling workflows at start-up. */
export const PREBUILT_BUNDLE = join(__dirname, '..', '..', 'workflow-bundle.js');
const WORKFLOWS_PATH = require.resolve('../../workflows');

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has shut down (after SIGINT/SIGTERM or shutdown()). */
  done: Promise<void>;
  shutdown(): Promise<void>;
  address: string;
  namespace: string;
}

let runtimeInstalled = false;

/** Connects, checks config and starts polling; returns once the worker is running. */
export async function startWorker(
  config: WorkerConfig,
  opts: {
    logger?: Pino;
    env?: NodeJS.ProcessEnv;
    handleSignals?: boolean;
    warnMissingKeys?: boolean;
    /** How often the in-flight gauge counts through visibility (default 30 s). */
    inFlightRefreshMs?: number;
  } = {},
): Promise<RunningWorker> {
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? createLogger(config.logLevel);
  // Read here so a misspelt point stops the worker at start; armed only in fault runs (docs/faults.md).
  const crashAt = armedCrashPoint(env);
  if (crashAt) logger.warn({ crashAt }, `TEST CRASH POINT ARMED: this worker kills itself at ${crashAt}`);
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    Runtime.install({
      logger: temporalLogger(logger, config.logLevel === 'trace' ? 'trace' : config.logLevel),
      telemetryOptions: {
        logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
        ...(config.metricsPort
          ? {
              metrics: {
                prometheus: {
                  bindAddress: `0.0.0.0:${config.metricsPort}`,
                  histogramBucketOverrides: HISTOGRAM_BUCKETS,
                },
              },
            }
          : {}),
      },
      shutdownSignals: opts.handleSignals === false ? [] : ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR2'],
    });
  }

  for (const { profile, hasKey } of keyStatus(config.providers, env)) {
    if (!hasKey && opts.warnMissingKeys !== false) {
      logger.warn(
        { provider: profile.name, apiKeyEnv: profile.apiKeyEnv },
        `provider '${profile.name}' has no key in ${profile.apiKeyEnv}: batches on it fail until the key is set`,
      );
    }
  }

  const connect = loadClientConnectConfig({ profile: config.temporalProfile });
  const address = connect.connectionOptions.address ?? 'localhost:7233';
  const namespace = connect.namespace ?? 'default';
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connect.connectionOptions);
  } catch (err) {
    const reason = ((err as Error).message ?? String(err))
      .split('\n')[0]
      .replace(/^.*ConnectError\(/, '')
      .trim();
    throw new TemporalConnectError(
      `cannot reach Temporal at ${address} (${reason}): start a server (\`batchkeeper dev\` starts one) ` +
        'or set TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY',
      address,
      namespace,
      { cause: err },
    );
  }

  const registration = await registerSearchAttributes(connection.operatorService, namespace);
  if ('error' in registration) {
    logger.warn(
      { namespace, error: registration.error },
      'could not register the Batch* search attributes (on Temporal Cloud create them once, see README); ' +
        'workflows upserting them fail their tasks until they exist',
    );
  } else if (registration.registered.length > 0) {
    logger.info({ namespace, registered: registration.registered }, 'registered search attributes');
  }

  const ledger = await openLedger(config.ledger);
  // Business metrics only where someone can scrape them: without a port they would cost queries for nothing.
  const profileNames = config.providers.map((p) => p.name);
  const metered = config.metricsPort
    ? {
        metrics: createMetrics(Runtime.instance().metricMeter),
        client: new Client({ connection, namespace }),
      }
    : null;
  if (metered) startSeriesAtZero(metered.metrics, profileNames);
  const activities = createActivities({
    providers: metered
      ? new MeteredProviderRegistry(config.providers, env, metered.metrics)
      : new ProviderRegistry(config.providers, env),
    outcomes: metered
      ? meteredLedgerSink(ledger, config.priceTable, {
          metrics: metered.metrics,
          sighting: querySighting(metered.client),
          logger,
        })
      : ledgerSink(ledger, config.priceTable),
    resultsDir: config.resultsDir,
    stagingDir: config.stagingDir,
    // Token budgets (profiles with tokenBudgets): acquire and release reach the budget workflow through it.
    workflowClient: (metered?.client ?? new Client({ connection, namespace })).workflow,
  });
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: config.taskQueue,
    ...(existsSync(PREBUILT_BUNDLE)
      ? { workflowBundle: { codePath: PREBUILT_BUNDLE } }
      : {
          workflowsPath: WORKFLOWS_PATH,
          bundlerOptions: { preloadModules: preloadModules(WORKFLOWS_PATH) },
        }),
    activities,
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    ...(config.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: config.maxCachedWorkflows }),
    // In-flight activities are short provider calls: give them time to finish on shutdown.
    shutdownGraceTime: '20 seconds',
  });
  const providerQueues = await createProviderQueueWorkers({
    connection,
    namespace,
    taskQueue: config.taskQueue,
    providers: config.providers,
    activities,
    maxConcurrentActivities: config.maxConcurrentActivities,
  });
  logger.info(
    {
      address,
      namespace,
      taskQueue: config.taskQueue,
      providers: config.providers.map((p) => p.name),
      ledger: config.ledger.databaseUrl ? 'postgres' : config.ledger.sqlitePath,
      results: config.resultsDir,
      metrics: config.metricsPort ? `:${config.metricsPort}/metrics` : 'off',
      providerQueues: Object.fromEntries(providerQueues.map((q) => [q.taskQueue, `${q.ratePerSecond}/s`])),
    },
    'worker ready',
  );
  const inFlight: InFlightGauge | null = metered
    ? startInFlightGauge({
        ...metered,
        providers: profileNames,
        logger,
        intervalMs: opts.inFlightRefreshMs,
      })
    : null;
  // One stops, all stop: a worker whose provider queue died would leave its calls to the others silently.
  const workers = [worker, ...providerQueues.map((q) => q.worker)];
  const stopAll = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const done = Promise.allSettled(
    workers.map((w) =>
      w.run().finally(() => {
        stopAll();
      }),
    ),
  )
    .then((settled) => {
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    })
    .finally(async () => {
      await inFlight?.stop();
      await ledger.close();
      await connection.close();
      logger.info('worker stopped');
    });
  return {
    worker,
    done,
    address,
    namespace,
    shutdown: async () => {
      stopAll();
      await done;
    },
  };
}

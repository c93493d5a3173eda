import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ProviderProfile } from '../../activities/providers';
import { DEFAULT_TASK_QUEUE } from '../../workflows/contract';
import type { PriceTable } from '../ledger';
import { ConfigError, keyStatus, loadProviderProfiles } from './providers';

export interface WorkerConfig {
  taskQueue: string;
  providers: ProviderProfile[];
  ledger: { databaseUrl?: string; sqlitePath: string };
  /** Downloaded results (`<dir>/<batch_id>/`) and normalized submissions; shared by all workers of a queue. */
  resultsDir: string;
  stagingDir: string;
  /** Prometheus metrics from the Temporal runtime on this port; off when unset. */
  metricsPort?: number;
  priceTable?: PriceTable;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** Temporal envconfig profile name (TEMPORAL_PROFILE); address, namespace, TLS, API key come from there. */
  temporalProfile?: string;
  maxConcurrentActivities: number;
  /** Workflow runs kept in memory (Temporal's sticky cache); a run not cached is replayed from its history. */
  maxCachedWorkflows?: number;
}

const priceTableSchema = z.record(
  z.string(),
  z.object({
    inputPerMTok: z.number().nonnegative(),
    outputPerMTok: z.number().nonnegative(),
    cachedInputPerMTok: z.number().nonnegative().optional(),
    batchDiscount: z.number().min(0).max(1).optional(),
  }),
);

export interface WorkerConfigOverrides {
  taskQueue?: string;
  metricsPort?: number;
  ledgerPath?: string;
  databaseUrl?: string;
  resultsDir?: string;
  stagingDir?: string;
  extraProviders?: ProviderProfile[];
}

/** Reads and validates the worker's configuration; every problem is a ConfigError naming the fix. */
export function loadWorkerConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: WorkerConfigOverrides = {},
): WorkerConfig {
  const providers = loadProviderProfiles(env);
  for (const extra of overrides.extraProviders ?? []) {
    const i = providers.findIndex((p) => p.name === extra.name);
    if (i >= 0) providers[i] = extra;
    else providers.push(extra);
  }
  const usable = keyStatus(providers, env).filter((s) => s.hasKey);
  if (usable.length === 0) {
    throw new ConfigError(
      `no provider profile has an API key: set ${providers.map((p) => p.apiKeyEnv).join(' or ')} ` +
        'in the worker environment, or run `batchkeeper dev` to use the local emulator',
    );
  }

  const metricsRaw =
    overrides.metricsPort ??
    (env.BATCHKEEPER_METRICS_PORT ? Number(env.BATCHKEEPER_METRICS_PORT) : undefined);
  if (metricsRaw !== undefined && !(Number.isInteger(metricsRaw) && metricsRaw > 0 && metricsRaw < 65536)) {
    throw new ConfigError(
      `BATCHKEEPER_METRICS_PORT must be a TCP port number, got '${String(env.BATCHKEEPER_METRICS_PORT)}'`,
    );
  }

  let priceTable: PriceTable | undefined;
  if (env.BATCHKEEPER_PRICES_FILE) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(env.BATCHKEEPER_PRICES_FILE, 'utf8'));
    } catch (err) {
      throw new ConfigError(
        `cannot read BATCHKEEPER_PRICES_FILE=${env.BATCHKEEPER_PRICES_FILE}: ${(err as Error).message}`,
      );
    }
    const parsed = priceTableSchema.safeParse(json);
    if (!parsed.success) {
      throw new ConfigError(
        `BATCHKEEPER_PRICES_FILE: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`,
      );
    }
    priceTable = parsed.data;
  }

  const logLevel = (env.BATCHKEEPER_LOG_LEVEL ?? 'info').toLowerCase();
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError(
      `BATCHKEEPER_LOG_LEVEL must be one of trace, debug, info, warn, error; got '${logLevel}'`,
    );
  }
  const maxConcurrentActivities = Number(env.BATCHKEEPER_MAX_CONCURRENT_ACTIVITIES ?? 50);
  if (!(Number.isInteger(maxConcurrentActivities) && maxConcurrentActivities > 0)) {
    throw new ConfigError('BATCHKEEPER_MAX_CONCURRENT_ACTIVITIES must be a positive integer');
  }

  // Unset: Temporal's default, which grows with the heap limit. A smaller cache lowers RSS but replays runs more
  // often: 1,000 at 10,000 batches in flight finished a quarter as many in the same time (docs/scale.md).
  // Empty counts as unset: the compose stack passes it through from .env as ''.
  const cacheRaw = env.BATCHKEEPER_MAX_CACHED_WORKFLOWS;
  const maxCachedWorkflows = cacheRaw === undefined || cacheRaw === '' ? undefined : Number(cacheRaw);
  if (
    maxCachedWorkflows !== undefined &&
    !(Number.isInteger(maxCachedWorkflows) && maxCachedWorkflows >= 2)
  ) {
    throw new ConfigError('BATCHKEEPER_MAX_CACHED_WORKFLOWS must be an integer of at least 2');
  }

  return {
    taskQueue: overrides.taskQueue ?? env.BATCHKEEPER_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    providers,
    ledger: {
      databaseUrl: overrides.databaseUrl ?? env.BATCHKEEPER_DATABASE_URL,
      sqlitePath: overrides.ledgerPath ?? env.BATCHKEEPER_LEDGER_PATH ?? './.data/ledger.sqlite',
    },
    resultsDir: overrides.resultsDir ?? env.BATCHKEEPER_RESULTS_DIR ?? './.data/results',
    stagingDir: overrides.stagingDir ?? env.BATCHKEEPER_STAGING_DIR ?? './.data/staging',
    metricsPort: metricsRaw,
    priceTable,
    logLevel: logLevel as WorkerConfig['logLevel'],
    temporalProfile: env.TEMPORAL_PROFILE,
    maxConcurrentActivities,
    ...(maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows }),
  };
}

export { ConfigError };

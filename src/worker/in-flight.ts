// The in-flight gauge: running batch workflows by provider profile and batch status, counted through Temporal
// visibility from the BatchProvider / BatchStatus search attributes the workflows upsert. Visibility sees every
// worker's batches (a process-local count would see only its own) and survives restarts; a count per label
// pair is an indexed query, and an idle profile costs one query per refresh.
import type { Client } from '@temporalio/client';
import { BATCH_STATUSES, BATCH_WORKFLOW_TYPE } from '../../workflows/contract';
import type { Pino } from './logger';
import type { BatchkeeperMetrics } from './metrics';

export const IN_FLIGHT_REFRESH_MS = 30_000;

export interface InFlightOptions {
  client: Client;
  metrics: Pick<BatchkeeperMetrics, 'batchesInFlight'>;
  /** Profile names configured on this worker: the label values, so the gauge stays bounded. */
  providers: readonly string[];
  logger: Pino;
  intervalMs?: number;
}

export interface InFlightGauge {
  /** One count of every (provider, status); resolves false when Temporal did not answer (the gauge keeps its values). */
  refresh(): Promise<boolean>;
  stop(): Promise<void>;
}

// Visibility's GROUP BY takes ExecutionStatus only, so each pair is its own count. Profile names are
// [a-z0-9_-] (src/config/providers.ts); anything else is refused rather than quoted into a query.
const SAFE = /^[A-Za-z0-9_-]+$/;

function running(provider: string, status?: string): string {
  const base = `WorkflowType = '${BATCH_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND BatchProvider = '${provider}'`;
  return status === undefined ? base : `${base} AND BatchStatus = '${status}'`;
}

/** Counts now, then every `intervalMs` (never overlapping) until stop(). */
export function startInFlightGauge(o: InFlightOptions): InFlightGauge {
  const providers = o.providers.filter((p) => SAFE.test(p));
  let failing = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<boolean> | undefined;

  const countAll = async (): Promise<void> => {
    for (const provider of providers) {
      const { count } = await o.client.workflow.count(running(provider));
      for (const status of BATCH_STATUSES) {
        // A running workflow with a terminal status is still downloading results or recording the bill.
        const n = count === 0 ? 0 : (await o.client.workflow.count(running(provider, status))).count;
        o.metrics.batchesInFlight(n, { provider, status });
      }
    }
  };

  const refresh = (): Promise<boolean> => {
    current ??= countAll().then(
      () => {
        if (failing) o.logger.info('in-flight batch counts from Temporal visibility resumed');
        failing = false;
        return true;
      },
      (err: unknown) => {
        // Once per failing stretch: a Temporal outage must not flood the log every 30 s.
        if (!failing) {
          o.logger.warn(
            { error: err instanceof Error ? err.message : String(err) },
            'cannot count in-flight batches through Temporal visibility: batchkeeper_batches_in_flight keeps its last values',
          );
        }
        failing = true;
        return false;
      },
    );
    const done = current;
    void done.finally(() => {
      if (current === done) current = undefined;
    });
    return done;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void refresh().finally(schedule);
    }, o.intervalMs ?? IN_FLIGHT_REFRESH_MS);
    timer.unref();
  };
  void refresh().finally(schedule);

  return {
    refresh,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}

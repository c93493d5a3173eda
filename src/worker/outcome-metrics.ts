// Per-batch metrics, counted when recordOutcome writes a batch's ledger row for the first time. Temporal may run
// the activity more than once; the ledger's `inserted` says which attempt was first, so a retry adds nothing.
// (A worker dying between the insert and the metrics loses that batch's observations: never twice, at worst none.)
import type { Client } from '@temporalio/client';
import type { OutcomeSink } from '../../activities';
import { statusQuery, type BatchOutcome } from '../../workflows/contract';
import type { RecordOutcomeInput } from '../../workflows/shared/activity-types';
import type { Ledger, LedgerRow, PriceTable } from '../ledger';
import { ledgerSink } from './ledger-sink';
import type { Pino } from './logger';
import type { BatchkeeperMetrics } from './metrics';

/** What the workflow itself knew when it saw the terminal status (its `status` query). */
export interface TerminalSighting {
  /** Workflow time the last poll's answer (the terminal one) was applied. */
  lastPolledAt: string | null;
  /** Workflow time tracking began (the first run's start, across continue-as-new). */
  startedAt: string;
}

export type SightingLookup = (workflowId: string) => Promise<TerminalSighting | null>;

const QUERY_TIMEOUT_MS = 5_000;

/** Asks the batch's workflow, still open while it records its bill, when it saw the end. */
export function querySighting(client: Client, timeoutMs = QUERY_TIMEOUT_MS): SightingLookup {
  return async (workflowId) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      const view = await Promise.race([client.workflow.getHandle(workflowId).query(statusQuery), timeout]);
      return view ? { lastPolledAt: view.lastPolledAt, startedAt: view.startedAt } : null;
    } finally {
      clearTimeout(timer);
    }
  };
}

const ms = (iso: string | null | undefined): number | null => {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
};

/**
 * Seconds from the provider's terminal timestamp (the ledger's `finishedAt`: the status's own timestamp, else
 * the latest terminal one) to the poll that showed it. Null when either is unknown, or when the batch ended
 * before tracking began: that measures when someone started tracking, not how late polling was.
 */
export function pollLatenessSeconds(row: LedgerRow, sighting: TerminalSighting | null): number | null {
  const finished = ms(row.finishedAt);
  const seen = ms(sighting?.lastPolledAt);
  const started = ms(sighting?.startedAt);
  if (finished === null || seen === null || started === null) return null;
  // Provider timestamps are whole seconds: compare the start at that resolution too.
  if (finished < Math.floor(started / 1000) * 1000) return null;
  // Clocks of provider and worker differ a little: a negative delay is none.
  return Math.max(0, seen - finished) / 1000;
}

/** Seconds from the first cancel request to the return of the provider cancel call; null when none was made. */
export function cancelLatencySeconds(outcome: BatchOutcome): number | null {
  const requested = ms(outcome.cancel?.requestedAt);
  const called = ms(outcome.cancel?.providerCalledAt);
  if (requested === null || called === null) return null;
  return Math.max(0, called - requested) / 1000;
}

/** Every per-batch observation of one newly recorded batch. */
export function observeBatch(
  metrics: BatchkeeperMetrics,
  outcome: BatchOutcome,
  row: LedgerRow,
  sighting: TerminalSighting | null,
): void {
  const labels = { provider: row.provider, status: row.status };
  metrics.batchesTerminal(1, labels);
  metrics.requestsBilled(row.billed, labels);
  if (row.inputTokens !== null) metrics.inputTokens(row.inputTokens, labels);
  if (row.outputTokens !== null) metrics.outputTokens(row.outputTokens, labels);
  if (row.estimatedCostUsd !== null) metrics.estimatedCost(row.estimatedCostUsd, labels);
  const lateness = pollLatenessSeconds(row, sighting);
  if (lateness !== null) metrics.pollLateness(lateness, labels);
  const cancel = cancelLatencySeconds(outcome);
  if (cancel !== null) {
    metrics.cancelLatency(cancel, {
      provider: row.provider,
      outcome: outcome.cancel?.providerOutcome ?? 'unknown',
    });
  }
}

/**
 * The billing ledger sink (src/worker/ledger-sink.ts, unchanged: the row, its cost estimate and the upsert stay
 * where they are) plus the metrics of each batch whose row it inserted. The ledger is wrapped only to learn
 * which rows were new, which the sink does not return.
 */
export function meteredLedgerSink(
  ledger: Ledger,
  priceTable: PriceTable | undefined,
  deps: { metrics: BatchkeeperMetrics; sighting: SightingLookup; logger: Pino },
): OutcomeSink {
  const inserted = new Map<string, LedgerRow>();
  const watched: Ledger = {
    record: async (row) => {
      const result = await ledger.record(row);
      if (result.inserted) inserted.set(row.batchId, row);
      return result;
    },
    get: (batchId) => ledger.get(batchId),
    list: (filter) => ledger.list(filter),
    close: () => ledger.close(),
  };
  const sink = ledgerSink(watched, priceTable);
  return {
    record: async (input: RecordOutcomeInput) => {
      const { batchId } = input.outcome;
      let row: LedgerRow | undefined;
      try {
        await sink.record(input);
      } finally {
        row = inserted.get(batchId);
        inserted.delete(batchId);
      }
      if (!row) return;
      // Metrics never fail the activity: the bill is written, and a retry would not count them anyway.
      try {
        // The workflow sends it with the outcome; runs of earlier versions are asked.
        const sighting =
          input.sighting ??
          (await deps.sighting(input.workflowId).catch((err: unknown) => {
            deps.logger.debug(
              { batchId, error: err instanceof Error ? err.message : String(err) },
              'no terminal sighting from the status query: poll lateness not observed',
            );
            return null;
          }));
        observeBatch(deps.metrics, input.outcome, row, sighting);
      } catch (err) {
        deps.logger.warn(
          { batchId, error: err instanceof Error ? err.message : String(err) },
          'batch metrics not recorded',
        );
      }
    },
  };
}

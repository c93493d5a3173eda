import { log } from '@temporalio/activity';
import type { BatchActivities, BatchRef, RecordOutcomeInput } from '../workflows/activity-types';
import { cancelBatch, retrieveBatch } from './batches';
import type { ProviderRegistry } from './providers';

export interface OutcomeSink {
  /** Must be idempotent by batch id: Temporal may run an activity more than once. */
  record(input: RecordOutcomeInput): Promise<void>;
}

export interface ActivityDeps {
  providers: ProviderRegistry;
  outcomes: OutcomeSink;
}

/** The activity object registered on the worker; dependencies are injected so tests can swap them. */
export function createActivities(deps: ActivityDeps): BatchActivities {
  return {
    retrieveBatch: (ref: BatchRef) => retrieveBatch(deps.providers, ref),
    cancelBatch: (ref: BatchRef) => cancelBatch(deps.providers, ref),
    recordOutcome: async (input: RecordOutcomeInput) => {
      await deps.outcomes.record(input);
      const { outcome } = input;
      log.info('batch outcome recorded', {
        batchId: outcome.batchId,
        provider: outcome.provider,
        status: outcome.status,
        billed: outcome.billing.billed,
        failed: outcome.billing.failed,
        notRun: outcome.billing.notRun,
      });
    },
  };
}

export { ProviderRegistry, BUILTIN_PROFILES, type ProviderProfile } from './providers';
export { classifyProviderError, retryAfterMs } from './errors';
export { toSnapshot } from './normalize';

import { log } from '@temporalio/activity';
import type { BatchActivities, BatchRef, RecordOutcomeInput } from '../workflows/activity-types';
import { cancelBatch, retrieveBatch } from './batches';
import type { ProviderRegistry } from './providers';
import { DEFAULT_RESULTS_DIR, DEFAULT_STAGING_DIR, createSubmissionActivities } from './submission';

export interface OutcomeSink {
  /** Must be idempotent by batch id: Temporal may run an activity more than once. */
  record(input: RecordOutcomeInput): Promise<void>;
}

export interface ActivityDeps {
  providers: ProviderRegistry;
  outcomes: OutcomeSink;
  /** Results store (default ./.data/results) and staging of normalized submissions (default ./.data/staging). */
  resultsDir?: string;
  stagingDir?: string;
}

/** The activity object registered on the worker; dependencies are injected so tests can swap them. */
export function createActivities(deps: ActivityDeps): BatchActivities {
  return {
    ...createSubmissionActivities({
      providers: deps.providers,
      resultsDir: deps.resultsDir ?? DEFAULT_RESULTS_DIR,
      stagingDir: deps.stagingDir ?? DEFAULT_STAGING_DIR,
    }),
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

import { activityInfo, log } from '@temporalio/activity';
import type { WorkflowClient } from '@temporalio/client';
import type { BatchRef, RecordOutcomeInput, WorkerActivities } from '../workflows/shared/activity-types';
import { cancelBatch, retrieveBatch } from './batches';
import { createBudgetActivities } from './budget';
import { crashPoint } from './crash-points';
import { createFleetActivities } from './fleet';
import { resolveOutcomeModel } from './outcome-model';
import type { ProviderRegistry } from './providers';
import { DEFAULT_RESULTS_DIR, DEFAULT_STAGING_DIR, createSubmissionActivities } from './submission';

export interface OutcomeSink {
  /**
   * Must be idempotent by batch id: Temporal may run an activity more than once. `input.model` is the resolved
   * model (batch object, else submission, else the input file's first request), null when none named one.
   */
  record(input: RecordOutcomeInput): Promise<void>;
}

/** Attempts that wait out a provider failing transiently on the input file before the bill goes without a model. */
const MODEL_LOOKUP_ATTEMPTS = 3;

export interface ActivityDeps {
  providers: ProviderRegistry;
  outcomes: OutcomeSink;
  /** Results store (default ./.data/results) and staging of normalized submissions (default ./.data/staging). */
  resultsDir?: string;
  stagingDir?: string;
  /** For token budgets (update-with-start of the budget workflow); profiles without `tokenBudgets` need none. */
  workflowClient?: WorkflowClient;
}

/**
 * The profile names an activity object serves (a symbol key: the worker registers only string-keyed functions).
 * Whoever runs these activities runs each profile's rate-limited provider queue too; test helpers read it.
 */
export const SERVED_PROFILES: unique symbol = Symbol('batchkeeper.servedProfiles');

export type ServingActivities = WorkerActivities & { [SERVED_PROFILES]?: string[] };

/** The activity object registered on the worker; dependencies are injected so tests can swap them. */
export function createActivities(deps: ActivityDeps): ServingActivities {
  return {
    [SERVED_PROFILES]: deps.providers.names(),
    ...createSubmissionActivities({
      providers: deps.providers,
      resultsDir: deps.resultsDir ?? DEFAULT_RESULTS_DIR,
      stagingDir: deps.stagingDir ?? DEFAULT_STAGING_DIR,
    }),
    ...createBudgetActivities({ workflowClient: deps.workflowClient }),
    ...createFleetActivities(deps.providers),
    retrieveBatch: (ref: BatchRef) => retrieveBatch(deps.providers, ref),
    cancelBatch: (ref: BatchRef) => cancelBatch(deps.providers, ref),
    recordOutcome: async (input: RecordOutcomeInput) => {
      const { outcome } = input;
      const resolved = await resolveOutcomeModel(deps.providers, input);
      // Before recording: a later attempt writes the row once, with the model if the provider recovers.
      if (resolved.retryable && activityInfo().attempt < MODEL_LOOKUP_ATTEMPTS) throw resolved.retryable;
      if (resolved.problem) {
        log.warn('batch model unknown: recorded without a cost estimate', {
          batchId: outcome.batchId,
          provider: outcome.provider,
          problem: resolved.problem,
        });
      }
      await deps.outcomes.record({ ...input, model: resolved.model });
      crashPoint('during-record-outcome');
      log.info('batch outcome recorded', {
        batchId: outcome.batchId,
        provider: outcome.provider,
        status: outcome.status,
        billed: outcome.billing.billed,
        failed: outcome.billing.failed,
        notRun: outcome.billing.notRun,
        model: resolved.model,
        modelSource: resolved.source,
      });
    },
  };
}

export { ProviderRegistry, BUILTIN_PROFILES, type ProviderProfile } from './providers';
export { classifyProviderError, retryAfterMs } from './errors';
export { toSnapshot } from './normalize';

// The activity interface the workflow calls. Types only: the implementations live in activities/.
import type { BatchOutcome, BatchSnapshot, ProviderCancelOutcome } from './messages';
import type { AcquireRequest, AcquireResult, ReleaseRequest } from './budget-messages';
import type { FleetActivities } from './fleet-types';
import type { SubmissionActivities } from './submission-types';

export interface BatchRef {
  /** Provider profile name configured on the worker. */
  provider: string;
  batchId: string;
}

export interface CancelBatchResult {
  outcome: ProviderCancelOutcome;
  snapshot: BatchSnapshot;
}

export interface RecordOutcomeInput {
  workflowId: string;
  outcome: BatchOutcome;
  /** The submission's model, when the batch was submitted by batchkeeper (the batch object may name none). */
  model?: string | null;
  /** The normalized input file on the worker (submitted batches): its first line names the model. */
  inputPath?: string | null;
  /**
   * When the workflow saw the terminal status and since when it tracks (workflow time, ISO), for the poll-lateness
   * metric. Absent from runs of earlier versions: the worker then asks the workflow's `status` query.
   */
  sighting?: { lastPolledAt: string | null; startedAt: string };
}

/** Which budget: its workflow id and what starts it when it is not running. */
export interface BudgetRef {
  budgetId: string;
  provider: string;
  model: string;
}

export interface BudgetActivities {
  /** Admit a part now or queue it (update-with-start of the budget workflow). */
  acquireTokenBudget: (input: BudgetRef & { request: AcquireRequest }) => Promise<AcquireResult>;
  /** Free a part's tokens, or withdraw it from the queue (signal-with-start). */
  releaseTokenBudget: (input: BudgetRef & { release: ReleaseRequest }) => Promise<void>;
}

export interface BatchActivities extends SubmissionActivities, BudgetActivities, FleetActivities {
  retrieveBatch: (ref: BatchRef) => Promise<BatchSnapshot>;
  cancelBatch: (ref: BatchRef) => Promise<CancelBatchResult>;
  /** Idempotent by batch id: a retried or replayed call never double-counts. */
  recordOutcome: (input: RecordOutcomeInput) => Promise<void>;
}

/** ApplicationFailure types raised by the activities; the non-retryable ones end the workflow with a clear message. */
export const ErrorTypes = {
  unknownProvider: 'UnknownProvider',
  missingApiKey: 'ProviderApiKeyMissing',
  auth: 'ProviderAuthFailed',
  notFound: 'BatchNotFound',
  invalidBatchId: 'InvalidBatchId',
  badRequest: 'ProviderBadRequest',
  rateLimited: 'ProviderRateLimited',
  server: 'ProviderServerError',
  network: 'ProviderUnreachable',
  invalidSubmission: 'InvalidSubmission',
  stagingChanged: 'StagingFileChanged',
  resultsMissing: 'ResultsMissing',
} as const;

export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  ErrorTypes.unknownProvider,
  ErrorTypes.missingApiKey,
  ErrorTypes.auth,
  ErrorTypes.notFound,
  ErrorTypes.invalidBatchId,
  ErrorTypes.badRequest,
  ErrorTypes.invalidSubmission,
  ErrorTypes.stagingChanged,
  ErrorTypes.resultsMissing,
];

// The activity interfaces the workflows call, one per workflow that proxies it, and their inputs and outputs.
// Types only: the implementations live in activities/, and nothing here runs in the workflow sandbox.
import type {
  AcquireRequest,
  AcquireResult,
  BatchOutcome,
  BatchSnapshot,
  FleetRegistration,
  ProviderCancelOutcome,
  ReleaseRequest,
  SweepResult,
} from '../contract';
import type {
  BuildResubmissionInput,
  BuildResubmissionResult,
  CleanupRemoteFilesInput,
  CleanupRemoteFilesResult,
  CreateBatchInput,
  CreateBatchResult,
  DownloadResultsInput,
  DownloadResultsResult,
  ValidatedSubmission,
  ValidateSubmissionInput,
} from './submission-activity-types';

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

export interface SweepInput {
  provider: string;
  /** The poller to read the registered batches from (query: nothing of the set enters history). */
  fleetWorkflowId: string;
  progressEverySeconds: number;
  maxPages: number;
  /** Unix seconds, the poller's (workflow) time at scheduling: the sweep's clock, so throttling follows one clock. */
  at?: number;
  /** The poller's cadence (FleetPolicy); defaults when absent. */
  minIntervalSeconds?: number;
  fullSweepEverySeconds?: number;
}

export interface RegisterInput {
  provider: string;
  registration: FleetRegistration;
}

/** Activities of the fleet (implemented in activities/fleet/index.ts). */

export interface RegisterInput {
  provider: string;
  registration: FleetRegistration;
}

/** Results of a terminal batch: downloaded into the results store, then (where allowed) removed remotely. */
export interface ResultsActivities {
  downloadResults: (input: DownloadResultsInput) => Promise<DownloadResultsResult>;
  cleanupRemoteFiles: (input: CleanupRemoteFilesInput) => Promise<CleanupRemoteFilesResult>;
}

/** What the batch workflow (`batchLifecycle`) calls. */
export interface BatchActivities extends ResultsActivities {
  retrieveBatch: (ref: BatchRef) => Promise<BatchSnapshot>;
  cancelBatch: (ref: BatchRef) => Promise<CancelBatchResult>;
  /** Idempotent by batch id: a retried or replayed call never double-counts. */
  recordOutcome: (input: RecordOutcomeInput) => Promise<void>;
  /**
   * Registers a batch with its profile's poller (signal-with-start: a workflow cannot start one itself).
   * False when the profile has fleet polling off or is unknown to this worker: the batch polls on its own.
   */
  registerWithFleet: (input: RegisterInput) => Promise<boolean>;
}

/** What the submission workflow (`submitBatch`) calls, besides the token budget's activities. */
export interface SubmissionActivities {
  validateSubmission: (input: ValidateSubmissionInput) => Promise<ValidatedSubmission>;
  createBatch: (input: CreateBatchInput) => Promise<CreateBatchResult>;
  buildResubmission: (input: BuildResubmissionInput) => Promise<BuildResubmissionResult>;
}

/** What the fleet poller (`fleetPoller`) calls. */
export interface FleetActivities {
  /** Lists the pages covering the registered batches and signals their workflows; one activity per sweep. */
  sweepFleet: (input: SweepInput) => Promise<SweepResult>;
}

/** Every activity a worker registers (activities/ implements them all; each workflow proxies its own part). */
export type WorkerActivities = BatchActivities & SubmissionActivities & BudgetActivities & FleetActivities;

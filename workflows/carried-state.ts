// Internal state: what a workflow carries into its next run (continue-as-new) and what batchkeeper's own workflows
// tell each other. Not a contract for other services, but recorded in histories: runs started by earlier versions
// carry these shapes too, so fields are only ever added, optional.
import { defineSignal } from '@temporalio/workflow';
import type {
  BatchOutcome,
  BatchSnapshot,
  BatchStatus,
  CancelRecord,
  ProviderAccessLoss,
  ProviderEventsRecord,
  RequestCounts,
  RoundTotals,
  SubmitStatusView,
  SubmitTokenBudgetView,
  SubmittedBatch,
} from './messages';
import type { FleetCarried } from './fleet-tracking';
import type { SubmissionChunk } from './submission-types';

export interface CarriedState {
  /** Provider events so far (absent in runs carried by earlier versions). */
  events?: ProviderEventsRecord;
  /** Set while the provider refuses access (absent in runs carried by earlier versions). */
  accessLost?: ProviderAccessLoss | null;
  snapshot: BatchSnapshot | null;
  cancel: CancelRecord | null;
  cancelSent: boolean;
  schedule: PollScheduleState;
  providerCalls: number;
  polls: number;
  runs: number;
  startedAt: string;
  /** The last status reported to the parent submission (runs that report status changes only). */
  parentReportedStatus?: BatchStatus | null;
  /** Fleet polling of this batch (absent in runs that never registered). */
  fleet?: FleetCarried;
}

/** The adaptive poll schedule's memory, carried across continue-as-new. */
export interface PollScheduleState {
  currentIntervalSeconds: number;
  lastStatus: BatchStatus | null;
  /** Recent (time, done-requests) observations for the progress rate. */
  progress: { at: number; done: number }[];
}

/**
 * Sent by a batch's workflow to the submission workflow that created it: on every status change, and (batch
 * workflows started by this version on) a last report with the outcome or the failure.
 */
export interface ChildProgress {
  batchId: string;
  workflowId: string;
  chunkIndex: number;
  round: number;
  status: BatchStatus;
  requestCounts: RequestCounts;
  /** The batch workflow's result, on its last report: a submission that continued as new learns it this way. */
  outcome?: BatchOutcome;
  /** Instead of an outcome when the batch workflow failed (status and counts are then the last seen). */
  failure?: { message: string; type: string | null };
}

export const childProgressSignal = defineSignal<[ChildProgress]>('childProgress');

/** A submission's state between runs (continue-as-new). Its size grows with the batches, its history does not. */
export interface SubmitCarriedState {
  /** Runs so far, the one that continued as new included. */
  runs: number;
  phase: SubmitStatusView['phase'];
  /** From validation: requests, chunks (round 0), the one model, the worker's clock at validation. */
  lines: number;
  chunks: number;
  model: string | null;
  validatedAt: number;
  round: number;
  /** Parts of the current round whose batch is not created yet. */
  queue: QueuedPart[];
  /** A resubmission being built from `round`'s batches: the next batch to look at, and the chunks so far. */
  collecting: { next: number; chunks: SubmissionChunk[] } | null;
  /** Every batch so far; those with `outcome: null` and no entry in `failures` are still running. */
  batches: SubmittedBatch[];
  /** The staging file each batch ran, by workflow id: what a resubmission picks its lines from. */
  chunkPaths: Record<string, string>;
  /** Batches that could not be created or whose workflow failed: the submission fails when the round ends. */
  failures: { workflowId: string | null; message: string; type: string | null }[];
  rounds: RoundTotals[];
  cancel: CancelRecord | null;
  /** The token budget the parts wait for, and the parts holding some of it (absent: no admission control). */
  tokenBudget?: SubmitTokenBudgetView;
  holds?: BudgetHold[];
}

/** A part admitted by the token budget, until its batch's terminal status releases it. */
export interface BudgetHold {
  holderId: string;
  round: number;
  /** The batch workflow, once the batch is created. */
  workflowId: string | null;
  part: QueuedPart;
}

/** One batch to create: a staging chunk to upload, or (a `fileId` source) the provider file itself. */
export interface QueuedPart {
  chunk: Pick<SubmissionChunk, 'index' | 'path' | 'bytes' | 'sha256'> | null;
  inputFileId: string | null;
  /** Estimated input tokens (where a token budget applies). */
  tokens?: number;
  /** Times its batch failed with `token_limit_exceeded` and it was queued again; and not before (workflow ms). */
  tries?: number;
  notBefore?: number;
}

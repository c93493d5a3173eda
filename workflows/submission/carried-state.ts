// What a submission workflow carries into its next run (continue-as-new). Not a contract for other services, but
// recorded in histories: runs started by earlier versions carry these shapes too, so fields are only ever added,
// optional.
import type {
  CancelRecord,
  RoundTotals,
  SubmitStatusView,
  SubmittedBatch,
  SubmitTokenBudgetView,
  SubmitWorkflowInput,
} from '../contract';
import type { SubmissionChunk } from '../shared/submission-activity-types';

/** The workflow's own input: the public one, plus what continue-as-new carries. */
export type SubmissionRunInput = SubmitWorkflowInput & {
  /** Set only by continue-as-new: the state carried over from the previous run. */
  carried?: SubmitCarriedState;
};

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

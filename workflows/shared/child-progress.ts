// What a batch workflow tells the submission workflow that created it. Internal to batchkeeper's workflows, but
// recorded in histories: fields are only ever added, optional.
import { defineSignal } from '@temporalio/workflow';
import type { BatchOutcome, BatchStatus, RequestCounts } from '../contract';

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

// What a token budget carries into its next run (continue-as-new): holders, waiters, the lowered limit. Recorded
// in histories: fields are only ever added, optional.
import type { BudgetGrant, BudgetHolder, BudgetWaiter, BudgetWorkflowInput } from '../contract';

/** The workflow's own input: the public one, plus what continue-as-new carries. */
export type BudgetRunInput = BudgetWorkflowInput & { carried?: BudgetCarried };

export interface BudgetCarried {
  limit: number;
  maxBatches: number | null;
  holders: BudgetHolder[];
  waiters: BudgetWaiter[];
  seq: number;
  lowered: { limit: number; until: number } | null;
  limitHits: number;
  runs: number;
  /** Grants decided but not yet signalled to their owner. */
  unsent: BudgetGrant[];
  /** Workflow time (ms) the owners of holds were last pinged. */
  probedAt?: number;
}

// The token budget's contract: one `tokenBudget` workflow per (provider profile, model) admits parts of
// submissions while their estimated tokens fit the provider's enqueued-token limit (docs/token-budget.md).
// Fields are only ever added, optional: runs of earlier versions carry these shapes.
import { query, signal, update } from './definitions';

/** `budget-<profile>-<model>`: every worker and submission of a profile and model meets the same budget. */
export function budgetWorkflowId(provider: string, model: string): string {
  return `budget-${provider}-${model}`;
}

export interface AcquireRequest {
  /** Unique per part and attempt (`<submission>/r<round>/c<chunk>[/t<try>]`); the update id too, so retries dedupe. */
  holderId: string;
  /** The workflow told by the `budgetGranted` signal when a waiting part is admitted. */
  owner: string;
  tokens: number;
  /** Higher goes first; then older submissions (`submittedAt`), then lower `order` (the part's index). */
  priority: number;
  submittedAt: number;
  order: number;
  /** The profile's limits as the worker that validated knows them: the budget follows the latest. */
  limit: number;
  maxBatches: number | null;
}

export interface AcquireResult {
  granted: boolean;
  /** Tokens of the waiting parts ahead of this one (0 when granted). */
  tokensAhead: number;
  partsAhead: number;
  /** The limit in force (lowered for a while after a provider's `token_limit_exceeded`). */
  effectiveLimit: number;
  held: number;
}

export interface ReleaseRequest {
  holderId: string;
  /** The part's batch failed with `token_limit_exceeded`: the budget lowers its effective limit for a while. */
  tokenLimitExceeded?: boolean;
  /** Why (terminal status, cancelled while waiting, creation failed...), for the budget's own record. */
  reason?: string;
}

export interface BudgetGrant {
  holderId: string;
  budgetId: string;
}

export interface BudgetHolder {
  holderId: string;
  owner: string;
  tokens: number;
  /** Workflow time (ms) of the grant. */
  since: number;
}

export interface BudgetWaiter extends AcquireRequest {
  /** Arrival order at the budget: the last tie-breaker. */
  seq: number;
}

export interface BudgetView {
  provider: string;
  model: string;
  limit: number;
  maxBatches: number | null;
  effectiveLimit: number;
  /** Until when (ISO) the lowered limit holds, when one does. */
  loweredUntil: string | null;
  held: number;
  holders: BudgetHolder[];
  waiting: { holderId: string; owner: string; tokens: number; tokensAhead: number }[];
  /** Provider `token_limit_exceeded` failures reported so far. */
  limitHits: number;
  runs: number;
}

export interface BudgetWorkflowInput {
  provider: string;
  model: string;
}

export const BUDGET_WORKFLOW_TYPE = 'tokenBudget';

/** The token budget's signature: for the activities that start it (update-with-start, signal-with-start). */
export type TokenBudgetWorkflow = (input: BudgetWorkflowInput) => Promise<void>;

export const acquireUpdate = update<AcquireResult, [AcquireRequest]>('acquire');
export const releaseSignal = signal<[ReleaseRequest]>('release');
/** Sent by the budget to a part's owner when the part, which was waiting, is admitted. */
export const budgetGrantedSignal = signal<[BudgetGrant]>('budgetGranted');
/**
 * Sent by the budget to the owners of its holds while parts wait (every 10 minutes): an owner that is gone
 * (terminated by hand) can never release, so a refused ping frees its holds. Owners need do nothing with it.
 */
export const budgetPingSignal = signal('budgetPing');
export const budgetStatusQuery = query<BudgetView>('status');

/** What the Web UI shows next to each handler of a token budget. */
export const BUDGET_HANDLER_DESCRIPTIONS = {
  acquire: 'Admit a part of this many tokens now, or queue it (by priority, then age).',
  release: "Free a part's tokens (its batch ended) or withdraw a waiting part.",
  status: 'Limit in force, tokens held, admitted batches, waiting parts with the tokens ahead of each.',
} as const;

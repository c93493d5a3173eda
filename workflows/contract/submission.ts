// The submission workflow's contract (`submitBatch`, id `submit-<name>`): from a JSONL file to batches, one child
// `batchLifecycle` per batch. Keep names stable; evolve payloads by adding optional fields only. What a run carries
// into the next is internal: ../submission/carried-state.ts.
import type {
  BatchOutcome,
  BatchStatus,
  BillingTotals,
  CancelRecord,
  PollPolicy,
  RequestCounts,
  ResultsOptions,
} from './batch';
import { query } from './definitions';

export const SUBMIT_WORKFLOW_TYPE = 'submitBatch';

/** Workflow id of a submission: chosen by the caller (e.g. a job name), prefixed so it never clashes with batches. */
export function submitWorkflowId(name: string): string {
  return `submit-${name}`;
}

export interface SubmissionSpec {
  /** A JSONL path readable by the workers, or a file already uploaded to the provider (purpose `batch`). */
  source: { path: string } | { fileId: string };
  /** e.g. `/v1/chat/completions`. */
  endpoint: string;
  /** Default `24h`; DashScope accepts up to `336h`. */
  completionWindow?: string;
  /** OpenAI metadata, or DashScope's `ds_name` / `ds_description`. */
  metadata?: Record<string, string>;
  /** Model for lines (bare request bodies) that name none. */
  defaultModel?: string;
  /** Stricter limits than the provider's (lines, bytes, line bytes): more, smaller batches. */
  limits?: { maxLines?: number; maxBytes?: number; maxLineBytes?: number };
}

export interface SubmitWorkflowInput {
  provider: string;
  submission: SubmissionSpec;
  pollPolicy?: Partial<PollPolicy>;
  results?: ResultsOptions;
  /** Resubmit the failed or never-run lines as new batches, up to `rounds` times (default 0, at most 3). */
  resubmit?: { rounds?: number; mode?: 'unsuccessful' | 'retryable' };
  searchAttributes?: boolean;
  /**
   * For tests and benchmarks: continue as new after this many history events instead of the default 3,000 (which
   * is also the most allowed). A run always makes some progress first, so small values cannot loop.
   */
  continueAsNewAfterEvents?: number;
  /**
   * Where the provider profile has a token budget for the model: parts of submissions with a higher priority are
   * admitted first, then older submissions first. Default 0.
   */
  priority?: number;
}

export interface SubmittedBatch {
  round: number;
  chunkIndex: number;
  batchId: string;
  workflowId: string;
  /** Whether an earlier attempt had already created it (found by its tag): never created twice. */
  adopted: boolean;
  status: BatchStatus;
  requestCounts: RequestCounts;
  outcome: BatchOutcome | null;
  /** Estimated input tokens, where a token budget admitted it. */
  tokens?: number;
  /**
   * Set when the provider failed it at validation with `token_limit_exceeded` (never billed) and its part was
   * queued again as a new batch: it does not count towards the submission's status.
   */
  retried?: 'token_limit_exceeded';
}

/** A token budget that applies to a submission, with what validation estimated (docs/token-budget.md). */
export interface SubmissionTokenBudget {
  /** Budget workflow id: one per (provider profile, model). */
  budgetId: string;
  model: string;
  /** The profile's enqueued-token limit and optional concurrent-batch limit for the model. */
  limit: number;
  maxBatches: number | null;
  /** How the tokens were estimated: `tiktoken:o200k_base`, `tiktoken:cl100k_base` or `utf8-bytes/2`. */
  method: string;
  /** Estimated input tokens over every chunk. */
  tokens: number;
}
/** The token budget a submission's parts wait for (docs/token-budget.md): what validation found, and the queue. */
export interface SubmitTokenBudgetView extends SubmissionTokenBudget {
  /** Parts waiting for the budget, with what was ahead of each when it was queued. */
  waiting: { round: number; chunkIndex: number; tokens: number; tokensAhead: number; partsAhead: number }[];
  /** Batches re-created after a provider's `token_limit_exceeded`. */
  tokenLimitRetries: number;
  /** Workflow time (ms) the submission was validated: its age at the budget (older goes first). */
  since?: number;
}

export interface SubmitStatusView {
  phase: 'validating' | 'creating' | 'running' | 'resubmitting' | 'finished';
  provider: string;
  endpoint: string;
  lines: number | null;
  chunks: number | null;
  batches: SubmittedBatch[];
  /**
   * Totals over every batch so far, from their reports and outcomes. Batches report status changes only, so a
   * running batch's counts are as of its last status change; its own `status` query has them live.
   */
  progress: RequestCounts;
  cancel: CancelRecord | null;
  /** 1 for the first run; grows with each continue-as-new (absent on runs started before it could). */
  run?: number;
  /** Set when the profile has a token budget for the submission's model. */
  tokenBudget?: SubmitTokenBudgetView;
}

export interface RoundTotals {
  round: number;
  batches: number;
  billing: BillingTotals;
}

export interface SubmitOutcome {
  provider: string;
  /** `completed` when every batch completed; otherwise the batches' statuses tell. */
  status: 'completed' | 'partial' | 'cancelled' | 'failed';
  lines: number;
  batches: SubmittedBatch[];
  /** Totals of the first submission; resubmission rounds are kept apart in `rounds`. */
  billing: BillingTotals;
  rounds: RoundTotals[];
  resultsDirs: string[];
  cancel: CancelRecord | null;
  /** Runs of the submission workflow (continue-as-new keeps each run's history small). */
  runs?: number;
}

/** The submission workflow's signature: for clients, which start it by its type name. */
export type SubmitBatchWorkflow = (input: SubmitWorkflowInput) => Promise<SubmitOutcome>;

export const submitStatusQuery = query<SubmitStatusView>('status');

/** What the Web UI shows next to each handler of a submission workflow. */
export const SUBMISSION_HANDLER_DESCRIPTIONS = {
  cancel: 'Cancel every batch of this submission (forwarded to each batch workflow); stops resubmission.',
  childProgress: 'Status changes and, last, the outcome of the batch workflows this submission started.',
  budgetGranted:
    'The token budget admitted a part of this submission that was waiting (docs/token-budget.md).',
  budgetPing: 'The token budget checks that this submission, holding some of it, still exists.',
  status: 'Phase, every batch with its status and counts, totals so far, cancel record, run.',
} as const;

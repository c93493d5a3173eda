// The public contract of batchkeeper: what other services (in any language) rely on.
// Keep names stable; evolve payloads by adding optional fields only.
import { defineQuery, defineSignal } from '@temporalio/workflow';

export const BATCH_WORKFLOW_TYPE = 'batchLifecycle';
export const DEFAULT_TASK_QUEUE = 'batchkeeper';

/** Workflow id of the workflow tracking a batch: derived from the batch id alone, so any service can find it. */
export function batchWorkflowId(batchId: string): string {
  return `batch-${batchId}`;
}

export type BatchStatus =
  | 'validating'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'failed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

export type TerminalStatus = 'completed' | 'failed' | 'expired' | 'cancelled';

export const TERMINAL_STATUSES: readonly TerminalStatus[] = ['completed', 'failed', 'expired', 'cancelled'];

export function isTerminal(status: BatchStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export interface RequestCounts {
  total: number;
  completed: number;
  failed: number;
}

export interface TokenUsage {
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
}

export interface BatchErrorItem {
  code: string | null;
  message: string | null;
  param: string | null;
  line: number | null;
}

/** Unix seconds; providers' quirks (`0` on DashScope, `null` on OpenAI) both normalize to `null`. */
export interface BatchTimestamps {
  createdAt: number | null;
  inProgressAt: number | null;
  expiresAt: number | null;
  finalizingAt: number | null;
  completedAt: number | null;
  failedAt: number | null;
  expiredAt: number | null;
  cancellingAt: number | null;
  cancelledAt: number | null;
}

/** A provider batch, normalized. Produced by activities, so only this shape ever enters history. */
export interface BatchSnapshot {
  id: string;
  status: BatchStatus;
  endpoint: string;
  completionWindow: string;
  inputFileId: string | null;
  outputFileId: string | null;
  errorFileId: string | null;
  requestCounts: RequestCounts;
  errors: BatchErrorItem[];
  usage: TokenUsage | null;
  metadata: Record<string, string>;
  timestamps: BatchTimestamps;
}

/** Payload of the `cancel` signal. */
export interface CancelRequest {
  reason?: string;
  requestedBy?: string;
}

export type CancelSource = 'signal' | 'workflow-cancellation';

/** How the provider answered our cancel call. */
export type ProviderCancelOutcome =
  | 'cancel-requested' // the provider accepted: the batch is cancelling (or cancelled)
  | 'already-cancelling' // someone else cancelled it first
  | 'already-terminal'; // it finished before our call reached it (a race, not an error)

export interface CancelRecord {
  /** ISO time the first cancel request was received (workflow time). */
  requestedAt: string;
  reason: string | null;
  requestedBy: string | null;
  source: CancelSource;
  /** Further cancel requests after the first: recorded, never sent to the provider again. */
  duplicates: number;
  /** True when the request arrived after the batch had already reached a terminal status. */
  tooLate: boolean;
  /** ISO time the provider cancel call returned, when it was made. */
  providerCalledAt: string | null;
  providerOutcome: ProviderCancelOutcome | null;
}

export interface PollPolicy {
  /** First wait after start, and the wait after every status change. */
  initialIntervalSeconds: number;
  /** Growth of the wait while nothing changes. */
  backoffCoefficient: number;
  /** The wait never grows beyond this. */
  maxIntervalSeconds: number;
  /** Lower bound for a wait aimed at the expected finish. */
  minIntervalSeconds: number;
  /** Wait between polls once a cancel was sent, until a terminal status. */
  cancelPollIntervalSeconds: number;
  /** Aim the next poll near the finish predicted from the progress rate of request_counts. */
  aimAtExpectedFinish: boolean;
}

export interface BillingTotals {
  /** Requests in the batch. */
  total: number;
  /** Requests that completed: these are billed, also after cancel or expiry. */
  completed: number;
  /** Same as `completed`: named for the people reading invoices. */
  billed: number;
  failed: number;
  /** Requests never run (cancelled or expired before they ran); not billed. */
  notRun: number;
  /** Token usage when the provider reports it on the batch; null otherwise. */
  tokens: TokenUsage | null;
}

export interface BatchWorkflowInput {
  batchId: string;
  /** Name of a provider profile configured on the worker (never a key). */
  provider: string;
  pollPolicy?: Partial<PollPolicy>;
  /** Upsert the Batch* search attributes (default true); turn off on a namespace where they are not registered. */
  searchAttributes?: boolean;
  /** Set only by continue-as-new: the state carried over from the previous run. */
  carried?: CarriedState;
}

export interface CarriedState {
  snapshot: BatchSnapshot | null;
  cancel: CancelRecord | null;
  cancelSent: boolean;
  schedule: PollScheduleState;
  providerCalls: number;
  polls: number;
  runs: number;
  startedAt: string;
}

/** The adaptive poll schedule's memory, carried across continue-as-new. */
export interface PollScheduleState {
  currentIntervalSeconds: number;
  lastStatus: BatchStatus | null;
  /** Recent (time, done-requests) observations for the progress rate. */
  progress: { at: number; done: number }[];
}

export type WorkflowPhase = 'tracking' | 'cancelling' | 'finished';

/** The whole snapshot returned by the `status` query. */
export interface BatchStatusView {
  batchId: string;
  provider: string;
  phase: WorkflowPhase;
  snapshot: BatchSnapshot | null;
  cancel: CancelRecord | null;
  billing: BillingTotals | null;
  polls: number;
  providerCalls: number;
  lastPolledAt: string | null;
  nextPollAt: string | null;
  startedAt: string;
  /** 1 for the first run; grows with each continue-as-new. */
  run: number;
  pollPolicy: PollPolicy;
}

export interface BatchOutcome {
  batchId: string;
  provider: string;
  status: TerminalStatus;
  billing: BillingTotals;
  errors: BatchErrorItem[];
  cancel: CancelRecord | null;
  snapshot: BatchSnapshot;
  providerCalls: number;
  runs: number;
}

export const cancelSignal = defineSignal<[CancelRequest?]>('cancel');
export const statusQuery = defineQuery<BatchStatusView>('status');

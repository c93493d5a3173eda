// The batch workflow's contract (`batchLifecycle`, id `batch-<batch id>`): what other services, in any language,
// rely on: its id, input, the `cancel` signal, the `status` query and the result. Keep names stable; evolve
// payloads by adding optional fields only. What a run carries into the next is internal: ../batch/carried-state.ts.
import { query, signal } from './definitions';

export const BATCH_WORKFLOW_TYPE = 'batchLifecycle';

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

export const BATCH_STATUSES: readonly BatchStatus[] = [
  'validating',
  'in_progress',
  'finalizing',
  'completed',
  'failed',
  'expired',
  'cancelling',
  'cancelled',
];

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
  /** The batch's model where the provider reports one (OpenAI does; DashScope does not). */
  model?: string | null;
  /**
   * Set by the worker (not the provider): its profile receives this provider's webhooks, so polls are a sparse
   * safety net and a `providerEvent` signal ends the wait.
   */
  pushed?: boolean;
  /**
   * What the provider's answer got wrong, when it was usable anyway (an unknown status, missing or
   * inconsistent request_counts, malformed errors): shown in status and carried into billing as discrepancies.
   */
  anomalies?: string[];
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
  /**
   * Why these totals may not be exact: the provider's counts were missing or inconsistent, or disagree with the
   * downloaded results (succeeded/failed lines). Recorded with the totals (ledger), never hidden. Absent = none.
   */
  discrepancies?: string[];
}

export interface BatchWorkflowInput {
  batchId: string;
  /** Name of a provider profile configured on the worker (never a key). */
  provider: string;
  pollPolicy?: Partial<PollPolicy>;
  /** Upsert the Batch* search attributes (default true); turn off on a namespace where they are not registered. */
  searchAttributes?: boolean;
  results?: ResultsOptions;
  /** Set by a submission workflow for the batches it created: progress goes to it, the input file is known. */
  parent?: {
    workflowId: string;
    chunkIndex: number;
    round: number;
    inputPath: string | null;
    /** The submission's one model (from validation): for the ledger when the batch object names none. */
    model?: string | null;
    /** True when batchkeeper uploaded the input file (a `path` source), so it may delete it; absent on old runs. */
    inputUploaded?: boolean;
  };
}

export interface ResultsOptions {
  /** Download the output and error files that exist at the terminal status (default true). */
  download?: boolean;
  /**
   * Delete the batch's files at the provider once the results are stored and verified. Default: only for batches
   * batchkeeper created (`submit`): their output and error files, and the input file when batchkeeper uploaded it.
   * A tracked batch (created elsewhere) keeps its files unless this is true; false keeps them always.
   */
  cleanupRemote?: boolean;
}

/** Where a batch's results are and what they hold (counts, never the lines). */
export interface ResultsRecord {
  dir: string;
  files: {
    kind: 'output' | 'error';
    fileId: string;
    path: string;
    bytes: number;
    lines: number;
    sha256: string;
  }[];
  summary: {
    succeeded: number;
    failed: number;
    failedByCode: Record<string, number>;
    notRun: number;
    notRunByCode: Record<string, number>;
  };
  /** Remote files deleted after verification (empty when clean-up is off or verification failed). */
  remoteFilesDeleted: string[];
  /** Why those files were deleted, or why none were (absent on results recorded before this field existed). */
  remoteCleanup?: { deleted: string[]; reason: string };
  /** Tokens summed from the output lines (used for billing when the batch reports no usage). */
  tokens: TokenUsage;
}

/** Tracking paused because the provider refused our key or profile after the batch had been seen. */
export interface ProviderAccessLoss {
  /** ISO time of the first refused call of this stretch. */
  since: string;
  /** ProviderAuthFailed, ProviderApiKeyMissing, UnknownProvider or BatchNotFound. */
  type: string;
  /** The last refusal's message (names the env var to fix; never the key). */
  message: string;
  /** Refused calls so far; retried every 10 minutes until a valid key or profile is deployed. */
  attempts: number;
}

/** Provider events (webhooks) this workflow received: counts and the last one, for status and the Web UI. */
export interface ProviderEventsRecord {
  received: number;
  /** Deliveries of an event already received (same webhook id): ignored. */
  duplicates: number;
  /** Events that arrived after the batch's terminal status was seen: ignored. */
  late: number;
  last: { type: string; webhookId: string; createdAt: number; receivedAt: string } | null;
  /** Recent webhook ids (bounded) for deduplication across continue-as-new. */
  recentIds: string[];
}

export type WorkflowPhase = 'tracking' | 'cancelling' | 'finished';

/** How the fleet poller tracks this batch (absent when the workflow never registered with it). */
export interface BatchFleetView {
  /** True while the profile's poller reports this batch; false when fleet polling is off for its profile. */
  registered: boolean;
  /** Snapshots from the poller applied so far (each one a poll this workflow did not make). */
  snapshots: number;
  lastSnapshotAt: string | null;
}

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
  /** Downloaded results once the batch is terminal (null before, or when turned off / failed: see resultsError). */
  results: ResultsRecord | null;
  resultsError: string | null;
  /** Non-null while tracking is paused because the provider refuses our key or profile (the batch still bills). */
  accessLost?: ProviderAccessLoss | null;
  /** Provider webhooks received for this batch. */
  events?: ProviderEventsRecord;
  /** Fleet polling of this batch (runs that registered with the profile's poller). */
  fleet?: BatchFleetView;
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
  /** Null when results were not downloaded (turned off, or the download failed: see `resultsError`). */
  results: ResultsRecord | null;
  resultsError: string | null;
}

/**
 * A provider's webhook about a batch (OpenAI: `batch.completed`, `batch.failed`, `batch.expired`,
 * `batch.cancelled`), verified by the receiver and forwarded to `batch-<id>`. A hint, never the truth: the workflow
 * retrieves the batch at once and follows its normal path; duplicates, late or out-of-order events change nothing.
 */
export interface ProviderEvent {
  /** The `webhook-id` header: the same for every delivery of one event (deduplication key). */
  webhookId: string;
  /** e.g. `batch.completed`. */
  type: string;
  /** The event's `created_at` (unix seconds). */
  createdAt: number;
  batchId: string;
  /** Provider profile whose endpoint received it. */
  provider: string;
}

/** The batch workflow's signature: for clients and the submission workflow, which start it by its type name. */
export type BatchLifecycleWorkflow = (input: BatchWorkflowInput) => Promise<BatchOutcome>;

export const cancelSignal = signal<[CancelRequest?]>('cancel');
export const providerEventSignal = signal<[ProviderEvent]>('providerEvent');
export const statusQuery = query<BatchStatusView>('status');

/** What the Web UI shows next to each handler of a batch workflow. */
export const BATCH_HANDLER_DESCRIPTIONS = {
  cancel:
    'Cancel the batch at the provider. Payload {"reason"?: string, "requestedBy"?: string}. Duplicates are ' +
    'recorded and sent once; completed requests before the cancel are still billed.',
  providerEvent:
    'A verified provider webhook about this batch (sent by `batchkeeper webhooks`): the batch is retrieved ' +
    'at once. Duplicates, late and out-of-order events change nothing.',
  fleetSnapshot:
    "The batch as the profile's fleet poller saw it in batches.list (sent to registered batches): applied " +
    'like a poll result; a terminal status is confirmed by one retrieve.',
  status: 'The whole snapshot: provider status and request counts, cancel record, billing, poll schedule.',
} as const;

/** Static summary and details set when the workflow is started (clients call this). */
export function startMetadata(
  batchId: string,
  provider: string,
): { staticSummary: string; staticDetails: string } {
  return {
    staticSummary: `Batch ${batchId} on ${provider}`,
    staticDetails:
      `Tracks provider batch \`${batchId}\` on profile **${provider}** until a terminal status, then records ` +
      'billing. Send the `cancel` signal (`{"reason": "...", "requestedBy": "..."}`) to cancel it at the provider; ' +
      'query `status` for the full snapshot.',
  };
}

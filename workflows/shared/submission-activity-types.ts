// What the submission and results activities take and return (types only: imported by workflows and activities).
// Every input and output is small JSON: paths, ids, counts, checksums and bounded problem lists, never lines.
import type { BatchSnapshot, SubmissionTokenBudget, TokenUsage } from '../contract';

/** Overrides of a provider's limits: stricter limits, or small ones in tests. Unset fields keep the profile's. */
export interface SubmissionLimits {
  /** Requests per input file. */
  maxLines: number;
  /** Bytes per input file (normalized JSONL, newlines included). */
  maxBytes: number;
  /** Bytes per line (without its newline). */
  maxLineBytes: number;
}

export type SubmissionSource = { path: string } | { fileId: string };

export interface ValidateSubmissionInput {
  /** Provider profile name configured on the worker. */
  provider: string;
  /** Names the staging directory; use the workflow id (unique, stable across retries). */
  submissionId: string;
  /** A JSONL path readable by the worker, or a file already uploaded to the provider. */
  source: SubmissionSource;
  /** e.g. '/v1/chat/completions'. */
  endpoint: string;
  /** Default '24h'. */
  completionWindow?: string;
  /** User metadata for the batch (checked against the profile's limits, our tags included). */
  metadata?: Record<string, string>;
  /** Model for lines whose body has none (bare request bodies typically). */
  defaultModel?: string;
  limits?: Partial<SubmissionLimits>;
  /** Default true: problems raise a non-retryable `InvalidSubmission`; false returns them with ok: false. */
  failOnProblems?: boolean;
}

export interface SubmissionProblem {
  /** 1-based line of the source file; null for problems of the submission as a whole. */
  line: number | null;
  code: string;
  message: string;
}

export interface SubmissionChunk {
  /** 0-based. */
  index: number;
  /** Normalized staging JSONL: what gets uploaded. */
  path: string;
  lines: number;
  bytes: number;
  sha256: string;
  /** Source line numbers (1-based) of the first and last request in this chunk. */
  firstLine: number;
  lastLine: number;
  /** Estimated input tokens (set when the profile has a token budget for the model). */
  tokens?: number;
}

export interface ValidatedSubmission {
  ok: boolean;
  provider: string;
  endpoint: string;
  completionWindow: string;
  /** The one model of the file (null when no valid line named one, or for an uploaded file). */
  model: string | null;
  /** Requests (non-blank lines) in the source. */
  lines: number;
  /** Bytes of the normalized JSONL over all chunks. */
  bytes: number;
  /** Bare request bodies that were wrapped with a generated custom_id. */
  wrapped: number;
  /** Lines given a model from defaultModel. */
  defaultedModel: number;
  /** Staging files to upload, one batch each; empty when the source is an uploaded file or has problems. */
  chunks: SubmissionChunk[];
  /** Set when the source is an already uploaded provider file: create the batch from it. */
  inputFileId: string | null;
  /** The first 100 problems, in line order. */
  problems: SubmissionProblem[];
  problemCount: number;
  /** Unix seconds on the worker's clock (the provider's clock, give or take): bounds the search for our tag. */
  validatedAt: number;
  /** Set when the profile has a token budget for the model: parts then wait for it (absent: no admission). */
  tokenBudget?: SubmissionTokenBudget;
}

export interface CreateBatchInput {
  provider: string;
  /** The tag that makes create idempotent: the id of the workflow that owns this batch. */
  workflowId: string;
  /** A staging chunk to upload; or `inputFileId` of a file already at the provider. */
  chunk?: Pick<SubmissionChunk, 'index' | 'path' | 'bytes' | 'sha256'>;
  inputFileId?: string;
  endpoint: string;
  /** Default '24h'. */
  completionWindow?: string;
  /** User metadata; on DashScope `ds_name` / `ds_description` name the batch in its console (and ds_name filters list). */
  metadata?: Record<string, string>;
  /** The submission's one model, when known (validation's `model`): part of the content key. */
  model?: string | null;
  /** Unix seconds: batches created before this are not searched for the tag (e.g. workflow start - 1 h). */
  searchSince?: number;
  /** Bound on list pages read when looking for the tag. Default 20. */
  maxListPages?: number;
}

export interface CreateBatchResult {
  snapshot: BatchSnapshot;
  /** True when a batch carrying our tag already existed (an earlier attempt created it): nothing was created. */
  adopted: boolean;
  /** True when an earlier attempt's upload was found (by file name) and used instead of uploading again. */
  reusedFile: boolean;
  inputFileId: string;
  /** sha256 over the content and the create parameters: the batch's `batchkeeper_content` tag. */
  contentKey?: string;
}

export interface DownloadResultsInput {
  provider: string;
  batchId: string;
  outputFileId: string | null;
  errorFileId: string | null;
  /** The normalized input (staging chunk): lets the summary count requests that never appear in results. */
  inputPath?: string;
  /** Download again even when the manifest already verifies. */
  force?: boolean;
}

export type ResultFileKind = 'output' | 'error';

export interface ResultFileInfo {
  kind: ResultFileKind;
  fileId: string;
  path: string;
  bytes: number;
  lines: number;
  sha256: string;
}

/** Counts by outcome per custom_id, never the ids themselves. */
export interface ResultSummary {
  /** Result lines read (output + error). */
  lines: number;
  succeeded: number;
  failed: number;
  /** error.code, else the body's error code, else `http_<status>`. At most 50 codes; the rest under `other`. */
  failedByCode: Record<string, number>;
  /** Requests that never ran: batch_expired / batch_cancelled lines, and input ids absent from every file. */
  notRun: number;
  notRunByCode: Record<string, number>;
  /** Lines that were not JSON or had no custom_id. */
  unparsable: number;
  /** Result lines repeating a custom_id already counted (counted once, under its first outcome). */
  duplicates: number;
}

export interface DownloadResultsResult {
  dir: string;
  files: ResultFileInfo[];
  summary: ResultSummary;
  /** Summed from response.body.usage of the succeeded lines: for billing when the batch has no usage. */
  tokens: TokenUsage;
  /** True when the manifest already verified and nothing was downloaded. */
  skipped: boolean;
}

export interface CleanupRemoteFilesInput {
  provider: string;
  batchId: string;
  /** The batch's input file; deleted with the results once they verify. */
  inputFileId?: string | null;
}

export interface CleanupRemoteFilesResult {
  /** True when every file of the manifest re-hashed to its recorded sha256 and size. */
  verified: boolean;
  /** File ids now gone at the provider (a 404 counts as deleted). */
  deleted: string[];
  /** Why nothing was deleted, when verified is false (bounded). */
  mismatches: string[];
}

export interface BuildResubmissionInput {
  batchId: string;
  /** The normalized input the batch ran (a staging chunk). */
  inputPath: string;
  /** 'unsuccessful' (default): every line not succeeded; 'retryable': not run, 429/5xx/timeouts only. */
  mode?: 'unsuccessful' | 'retryable';
}

export interface BuildResubmissionResult {
  /** `<resultsDir>/<batchId>/resubmit.jsonl`; null when nothing is to be resubmitted. */
  path: string | null;
  lines: number;
  bytes: number;
  /** Lines left out because they succeeded, or failed with a non-retryable code in 'retryable' mode. */
  skippedSucceeded: number;
  skippedNonRetryable: number;
}

/** Shapes shared across the emulator's modules (internal; the public ones are re-exported by index.ts). */

export type ProfileName = 'openai' | 'dashscope';

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

export const TERMINAL: ReadonlySet<BatchStatus> = new Set(['failed', 'completed', 'expired', 'cancelled']);

export interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

export interface FileRec {
  id: string;
  bytes: number;
  createdAt: number;
  filename: string;
  purpose: string;
  path: string;
  seq: number;
  /** sha256 of the content, kept so a test can compare what a client stored with what was served. */
  sha256?: string;
  /** Emulator time of the delete: the record stays (not listed, not served) as a tombstone. */
  deletedAt?: number;
}

/** Per-batch timing, copied from the options when the batch is created so later option changes don't rewrite history. */
export interface Timing {
  validatingSeconds: number;
  requestSeconds: number;
  finalizingSeconds: number;
  cancellingSeconds: number;
}

/** What validation keeps per batch: counts and prefix sums, never the lines themselves. */
export interface ValidInput {
  ok: true;
  total: number;
  model: string | null;
  /** cumFailed[i] = failing requests among the first i; cumIn/cumOut = tokens of the succeeding ones. */
  cumFailed: Uint32Array;
  cumIn: Float64Array;
  cumOut: Float64Array;
  /** Input tokens of every request, as the provider counts them for its enqueued-token limit (0 when none is set). */
  enqueuedTokens: number;
}

export interface InvalidInput {
  ok: false;
  errors: BatchError[];
}

export type ValidationResult = ValidInput | InvalidInput;

export interface FinalRecord {
  status: 'completed' | 'expired' | 'cancelled';
  at: number;
  ran: number;
  outputFileId: string | null;
  errorFileId: string | null;
}

export interface BatchRec {
  id: string;
  seq: number;
  endpoint: string;
  inputFileId: string;
  inputPath: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  createdAt: number;
  expiresAt: number;
  timing: Timing;
  failureRate: number;
  validation: Promise<ValidationResult>;
  validated?: ValidationResult;
  cancelRequestedAt?: number;
  job?: Promise<void>;
  final?: FinalRecord;
  /** Set when writing the result files broke (disk full...): the batch is reported failed. */
  internalError?: { message: string; at: number };
  /** The enqueued-token limit when the batch was created (option `enqueuedTokenLimit`). */
  tokenLimit?: number | Record<string, number>;
  /** Whether the limit let it in, decided when its validation ended (token-limit.ts). */
  admission?: { ok: true } | { ok: false; errors: BatchError[] };
  /** Decides admission for this batch and every earlier one (set when a limit applies). */
  admit?: () => Promise<void>;
}

export interface CallLogEntry {
  method: string;
  path: string;
  /** Route name, e.g. 'batches.cancel' (undefined for unknown routes). */
  route?: string;
  /** Wall-clock unix milliseconds. */
  at: number;
  /** Emulator clock (unix seconds) when the call arrived. */
  clockAt: number;
  /** HTTP status sent; 0 when the connection was dropped on purpose. */
  status: number;
}

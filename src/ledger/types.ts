import { TERMINAL_STATUSES, type TerminalStatus } from '../../workflows/contract';

/** One batch's billing totals as finance reads them: exactly one row per batch id. */
export interface LedgerRow {
  batchId: string;
  /** Provider profile name configured on the worker (e.g. `openai`, `dashscope`). */
  provider: string;
  endpoint: string;
  model: string | null;
  status: TerminalStatus;
  total: number;
  completed: number;
  /** Requests billed: equal to `completed`, also after cancel or expiry. */
  billed: number;
  failed: number;
  notRun: number;
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
  estimatedCostUsd: number | null;
  cancelRequestedAt: string | null;
  cancelReason: string | null;
  cancelRequestedBy: string | null;
  /** When the provider created the batch (ISO). */
  createdAt: string | null;
  /** When the batch reached its terminal status (ISO). */
  finishedAt: string | null;
  /** When this row was last written (ISO). */
  recordedAt: string;
  workflowId: string;
  /**
   * Why the totals may not be exact (the provider's counts missing or inconsistent, or disagreeing with the
   * downloaded results): a flagged row. Null when there is nothing to flag.
   */
  discrepancies: string[] | null;
}

export interface LedgerListFilter {
  /** Inclusive lower bound on `finishedAt`, or on `recordedAt` when the finish time is unknown. */
  since?: Date;
  /** Exclusive upper bound on the same time, so consecutive periods never overlap. */
  until?: Date;
  provider?: string;
  status?: TerminalStatus;
}

export interface Ledger {
  /**
   * Upsert by batch id: recording the same batch again updates its one row, never adds a second. A null in the
   * later write keeps the value the row had (see upsert.ts); every other value is the later write's.
   */
  record(row: LedgerRow): Promise<{ inserted: boolean }>;
  get(batchId: string): Promise<LedgerRow | null>;
  /** Oldest first, by `finishedAt` (falling back to `recordedAt`), then batch id. */
  list(filter?: LedgerListFilter): Promise<LedgerRow[]>;
  close(): Promise<void>;
}

/** Column names shared by both stores, in LedgerRow order. Changing them needs a schema migration. */
export const LEDGER_COLUMNS = [
  ['batchId', 'batch_id'],
  ['provider', 'provider'],
  ['endpoint', 'endpoint'],
  ['model', 'model'],
  ['status', 'status'],
  ['total', 'total'],
  ['completed', 'completed'],
  ['billed', 'billed'],
  ['failed', 'failed'],
  ['notRun', 'not_run'],
  ['inputTokens', 'input_tokens'],
  ['outputTokens', 'output_tokens'],
  ['totalTokens', 'total_tokens'],
  ['estimatedCostUsd', 'estimated_cost_usd'],
  ['cancelRequestedAt', 'cancel_requested_at'],
  ['cancelReason', 'cancel_reason'],
  ['cancelRequestedBy', 'cancel_requested_by'],
  ['createdAt', 'created_at'],
  ['finishedAt', 'finished_at'],
  ['recordedAt', 'recorded_at'],
  ['workflowId', 'workflow_id'],
  // Stored as a JSON array in a text column: schema version 2.
  ['discrepancies', 'discrepancies'],
] as const satisfies readonly (readonly [keyof LedgerRow, string])[];

const COUNT_FIELDS = ['total', 'completed', 'billed', 'failed', 'notRun'] as const;
const TOKEN_FIELDS = ['inputTokens', 'outputTokens', 'totalTokens'] as const;
const TIME_FIELDS = ['cancelRequestedAt', 'createdAt', 'finishedAt'] as const;

/**
 * Validates a row and puts every time into the one canonical ISO form (`toISOString`), so both stores
 * return identical rows and SQLite's text times sort and compare chronologically.
 */
export function normalizeRow(row: LedgerRow): LedgerRow {
  const out: LedgerRow = { ...row };
  for (const key of ['batchId', 'provider', 'workflowId'] as const) {
    if (typeof row[key] !== 'string' || row[key] === '')
      throw new TypeError(`ledger row: ${key} is required`);
  }
  // A provider may omit the endpoint; the bill must still be recorded (an empty endpoint is "unknown").
  if (typeof row.endpoint !== 'string')
    throw new TypeError(`ledger row ${row.batchId}: endpoint must be a string`);
  if (!(TERMINAL_STATUSES as readonly string[]).includes(row.status)) {
    throw new TypeError(`ledger row ${row.batchId}: status ${String(row.status)} is not terminal`);
  }
  for (const key of COUNT_FIELDS) {
    if (!Number.isSafeInteger(row[key]) || row[key] < 0) {
      throw new TypeError(`ledger row ${row.batchId}: ${key} must be a non-negative integer`);
    }
  }
  for (const key of TOKEN_FIELDS) {
    const v = row[key];
    if (v !== null && (!Number.isSafeInteger(v) || v < 0)) {
      throw new TypeError(`ledger row ${row.batchId}: ${key} must be a non-negative integer or null`);
    }
  }
  if (
    row.estimatedCostUsd !== null &&
    !(Number.isFinite(row.estimatedCostUsd) && row.estimatedCostUsd >= 0)
  ) {
    throw new TypeError(`ledger row ${row.batchId}: estimatedCostUsd must be a non-negative number or null`);
  }
  const d: unknown = row.discrepancies;
  if (d !== null && !(Array.isArray(d) && d.every((x) => typeof x === 'string'))) {
    throw new TypeError(`ledger row ${row.batchId}: discrepancies must be a list of strings or null`);
  }
  // An empty list flags nothing: stored as null, so a later write cannot clear a real flag with it.
  out.discrepancies = d !== null && d.length > 0 ? [...d] : null;
  for (const key of TIME_FIELDS) out[key] = canonicalIso(row[key], key, row.batchId);
  out.recordedAt = canonicalIso(row.recordedAt, 'recordedAt', row.batchId) ?? '';
  if (!out.recordedAt) throw new TypeError(`ledger row ${row.batchId}: recordedAt is required`);
  return out;
}

function canonicalIso(value: string | null, key: string, batchId: string): string | null {
  if (value === null) return null;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new TypeError(`ledger row ${batchId}: ${key} is not an ISO time: ${value}`);
  return new Date(ms).toISOString();
}

/** The discrepancies column's text: a JSON array, or null. */
export function discrepanciesToText(list: readonly string[] | null): string | null {
  return list && list.length > 0 ? JSON.stringify(list) : null;
}

/** Reads the column back; text that is not a JSON list of strings (written by hand) is kept as one entry. */
export function discrepanciesFromText(text: unknown): string[] | null {
  if (typeof text !== 'string' || text === '') return null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string'))
      return parsed.length ? parsed : null;
  } catch {
    // not JSON: fall through
  }
  return [text];
}

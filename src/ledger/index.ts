import type { BatchOutcome, BatchTimestamps, TerminalStatus } from '../../workflows/contract';
import { openPostgresLedger } from './postgres';
import { openSqliteLedger } from './sqlite';
import type { Ledger, LedgerRow } from './types';

export type { Ledger, LedgerListFilter, LedgerRow } from './types';
export { normalizeRow } from './types';
export { openSqliteLedger } from './sqlite';
export { openPostgresLedger } from './postgres';
export { formatRows, LEDGER_FORMATS } from './format';
export type { LedgerFormat } from './format';

export const DEFAULT_SQLITE_PATH = './.data/ledger.sqlite';

export interface OpenLedgerOptions {
  /** A postgres:// (or postgresql://) URL selects Postgres; without one the ledger is a SQLite file. */
  databaseUrl?: string;
  sqlitePath?: string;
}

export async function openLedger(options: OpenLedgerOptions = {}): Promise<Ledger> {
  const url = options.databaseUrl?.trim();
  if (url) {
    if (/^postgres(ql)?:\/\//i.test(url)) return openPostgresLedger({ connectionString: url });
    // A mistyped URL silently falling back to a local file would hide the bills from finance.
    throw new Error(`unsupported ledger database URL (expected postgres://...): ${redactUrl(url)}`);
  }
  return openSqliteLedger(options.sqlitePath ?? DEFAULT_SQLITE_PATH);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export interface ModelPrice {
  /** Synchronous (real-time) USD price per million input tokens. */
  inputPerMTok: number;
  /** Synchronous USD price per million output tokens (reasoning tokens are part of output). */
  outputPerMTok: number;
  /** Synchronous USD price per million cached input tokens; without it cached tokens cost as input. */
  cachedInputPerMTok?: number;
  /** Fraction taken off the synchronous price for batch jobs; default 0.5 (batch costs 50%). */
  batchDiscount?: number;
}

export type PriceTable = Record<string, ModelPrice>;

export const DEFAULT_BATCH_DISCOUNT = 0.5;

export interface RowExtras {
  workflowId: string;
  /** The model when the batch object names none (`snapshot.model` wins): the submission's or the input file's. */
  model?: string | null;
  priceTable?: PriceTable;
  /** When the row is written; defaults to now (the only impure input, so tests pass it). */
  recordedAt?: Date | string;
}

const TERMINAL_TIME: Record<TerminalStatus, keyof BatchTimestamps> = {
  completed: 'completedAt',
  failed: 'failedAt',
  expired: 'expiredAt',
  cancelled: 'cancelledAt',
};

/** Turns a workflow's outcome into its ledger row; the counts are the workflow's billing totals as they are. */
export function rowFromOutcome(outcome: BatchOutcome, extras: RowExtras): LedgerRow {
  const { billing, snapshot, cancel } = outcome;
  const tokens = billing.tokens;
  const model = named(snapshot.model) ?? named(extras.model);
  const recordedAt = extras.recordedAt ?? new Date();
  return {
    batchId: outcome.batchId,
    provider: outcome.provider,
    endpoint: snapshot.endpoint,
    model,
    status: outcome.status,
    total: billing.total,
    completed: billing.completed,
    billed: billing.billed,
    failed: billing.failed,
    notRun: billing.notRun,
    inputTokens: tokens?.inputTokens ?? null,
    outputTokens: tokens?.outputTokens ?? null,
    totalTokens: tokens?.totalTokens ?? null,
    estimatedCostUsd: tokens && model ? estimateCostUsd(tokens, model, extras.priceTable) : null,
    cancelRequestedAt: cancel?.requestedAt ?? null,
    cancelReason: cancel?.reason ?? null,
    cancelRequestedBy: cancel?.requestedBy ?? null,
    createdAt: unixToIso(snapshot.timestamps.createdAt),
    finishedAt: unixToIso(finishedAtUnix(outcome.status, snapshot.timestamps)),
    recordedAt: typeof recordedAt === 'string' ? recordedAt : recordedAt.toISOString(),
    workflowId: extras.workflowId,
    discrepancies: billing.discrepancies?.length ? [...billing.discrepancies] : null,
  };
}

function named(v: string | null | undefined): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v : null;
}

/** The status's own timestamp; when a provider left it unset, the latest terminal timestamp it did set. */
function finishedAtUnix(status: TerminalStatus, ts: BatchTimestamps): number | null {
  const own = ts[TERMINAL_TIME[status]];
  if (own) return own;
  const any = Object.values(TERMINAL_TIME)
    .map((k) => ts[k])
    .filter((v): v is number => typeof v === 'number' && v > 0);
  return any.length ? Math.max(...any) : null;
}

function unixToIso(seconds: number | null): string | null {
  return seconds ? new Date(seconds * 1000).toISOString() : null;
}

// Only date or alias suffixes: a looser prefix match would price `gpt-4o-mini` as `gpt-4o`.
const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)$/;

/** The exact model name, else the name without a snapshot suffix (`gpt-4o-2024-08-06`, `qwen-plus-latest`). */
export function findPrice(table: PriceTable | undefined, model: string): ModelPrice | null {
  if (!table) return null;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(table, k);
  if (has(model)) return table[model];
  for (const key of Object.keys(table)) {
    if (model.startsWith(key) && SNAPSHOT_SUFFIX.test(model.slice(key.length))) return table[key];
  }
  return null;
}

export function estimateCostUsd(
  tokens: { inputTokens: number; cachedTokens?: number; outputTokens: number },
  model: string,
  table: PriceTable | undefined,
): number | null {
  const price = findPrice(table, model);
  if (!price) return null;
  const discount = price.batchDiscount ?? DEFAULT_BATCH_DISCOUNT;
  // A malformed price yields no estimate rather than failing the activity that records the bill.
  const rates = [price.inputPerMTok, price.outputPerMTok, price.cachedInputPerMTok ?? 0];
  if (!(discount >= 0 && discount <= 1) || !rates.every((r) => Number.isFinite(r) && r >= 0)) return null;
  const cached =
    price.cachedInputPerMTok === undefined ? 0 : Math.min(tokens.cachedTokens ?? 0, tokens.inputTokens);
  // Tokens times USD per million tokens: the synchronous price in micro-dollars.
  const sync =
    (tokens.inputTokens - cached) * price.inputPerMTok +
    cached * (price.cachedInputPerMTok ?? 0) +
    tokens.outputTokens * price.outputPerMTok;
  // Micro-dollar precision: enough for an estimate, and it keeps float noise out of finance's CSV.
  return Math.round(sync * (1 - discount)) / 1e6;
}

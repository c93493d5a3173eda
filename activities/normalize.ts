import type { Batch } from 'openai/resources/batches';
import {
  BATCH_STATUSES,
  type BatchErrorItem,
  type BatchSnapshot,
  type BatchStatus,
  type BatchTimestamps,
  type RequestCounts,
  type TokenUsage,
} from '../workflows/contract';

/**
 * A provider batch object as the workflow sees it. Providers differ in small ways (DashScope writes unset
 * timestamps as 0, OpenAI as null; usage and model only on OpenAI); this is the one place that knows.
 *
 * Never throws on a bad answer: a batch keeps billing at the provider whatever it reports, so an answer that is
 * wrong in places (unknown status, missing or inconsistent request_counts, malformed errors) becomes a usable
 * snapshot plus `anomalies`, which the workflow shows in its status and records with the billing.
 */
export function toSnapshot(raw: Batch): BatchSnapshot {
  const anomalies: string[] = [];
  const timestamps = toTimestamps(raw);
  const status = toStatus(raw.status, timestamps, anomalies);
  const snapshot: BatchSnapshot = {
    id: raw.id,
    status,
    endpoint: typeof raw.endpoint === 'string' ? raw.endpoint : '',
    completionWindow: typeof raw.completion_window === 'string' ? raw.completion_window : '',
    inputFileId: nonEmpty(raw.input_file_id),
    outputFileId: nonEmpty(raw.output_file_id),
    errorFileId: nonEmpty(raw.error_file_id),
    requestCounts: toCounts(raw.request_counts, status, timestamps, anomalies),
    errors: toErrors(raw.errors, anomalies),
    usage: toUsage(raw.usage),
    metadata: stringRecord(raw.metadata),
    timestamps,
  };
  const model = nonEmpty((raw as { model?: unknown }).model);
  if (model) snapshot.model = model;
  // Absent rather than empty, so snapshots of well-behaved providers stay exactly as they were.
  if (anomalies.length > 0) snapshot.anomalies = anomalies;
  return snapshot;
}

const TERMINAL_BY_TIMESTAMP: [keyof BatchTimestamps, BatchStatus][] = [
  ['cancelledAt', 'cancelled'],
  ['expiredAt', 'expired'],
  ['failedAt', 'failed'],
  ['completedAt', 'completed'],
];

/**
 * An unknown status reads from the timestamps: a terminal one means the batch ended (and is billed and
 * finished as such); otherwise it is still running and polling goes on. Either way the raw value is shown.
 */
function toStatus(raw: unknown, t: BatchTimestamps, anomalies: string[]): BatchStatus {
  if (typeof raw === 'string' && (BATCH_STATUSES as readonly string[]).includes(raw))
    return raw as BatchStatus;
  const terminal = TERMINAL_BY_TIMESTAMP.find(([key]) => t[key] !== null);
  const read: BatchStatus = terminal
    ? terminal[1]
    : t.cancellingAt !== null
      ? 'cancelling'
      : t.finalizingAt !== null
        ? 'finalizing'
        : t.inProgressAt !== null
          ? 'in_progress'
          : 'validating';
  anomalies.push(`unknown status ${JSON.stringify(raw ?? null)}: read as '${read}' from the timestamps`);
  return read;
}

function toCounts(raw: unknown, status: BatchStatus, t: BatchTimestamps, anomalies: string[]): RequestCounts {
  if (!raw || typeof raw !== 'object') {
    // Before any request ran (validating, or failed at validation) no counts is normal; after, it hides billing.
    const ran = t.inProgressAt !== null || ['in_progress', 'finalizing', 'completed'].includes(status);
    if (ran) anomalies.push('request_counts missing');
    return { total: 0, completed: 0, failed: 0 };
  }
  const record = raw as Record<string, unknown>;
  const read = (key: keyof RequestCounts): number => {
    const v = record[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v);
    if (v === undefined || v === null) anomalies.push(`request_counts.${key} missing`);
    else anomalies.push(`request_counts.${key} is not a count: ${JSON.stringify(v).slice(0, 40)}`);
    return 0;
  };
  const counts = { total: read('total'), completed: read('completed'), failed: read('failed') };
  if (counts.completed + counts.failed > counts.total) {
    anomalies.push(
      `request_counts inconsistent: completed ${counts.completed} + failed ${counts.failed} > total ${counts.total}`,
    );
  }
  return counts;
}

function toErrors(raw: unknown, anomalies: string[]): BatchErrorItem[] {
  if (raw === null || raw === undefined) return [];
  const data = typeof raw === 'object' ? (raw as { data?: unknown }).data : undefined;
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data)) {
    anomalies.push('errors.data is not a list');
    return [];
  }
  const items: BatchErrorItem[] = [];
  let malformed = 0;
  for (const e of data as unknown[]) {
    if (!e || typeof e !== 'object') {
      malformed += 1;
      continue;
    }
    const item = e as Record<string, unknown>;
    items.push({
      code: text(item.code),
      message: text(item.message),
      param: text(item.param),
      line: typeof item.line === 'number' && Number.isFinite(item.line) ? item.line : null,
    });
  }
  if (malformed > 0) anomalies.push(`errors: ${malformed} malformed item(s) left out`);
  return items;
}

function toTimestamps(raw: Batch): BatchTimestamps {
  return {
    createdAt: ts(raw.created_at),
    inProgressAt: ts(raw.in_progress_at),
    expiresAt: ts(raw.expires_at),
    finalizingAt: ts(raw.finalizing_at),
    completedAt: ts(raw.completed_at),
    failedAt: ts(raw.failed_at),
    expiredAt: ts(raw.expired_at),
    cancellingAt: ts(raw.cancelling_at),
    cancelledAt: ts(raw.cancelled_at),
  };
}

function ts(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null;
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

function text(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

function nonEmpty(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function toUsage(u: Batch['usage'] | null | undefined): TokenUsage | null {
  if (!u || typeof u !== 'object') return null;
  return {
    inputTokens: count(u.input_tokens),
    cachedTokens: count(u.input_tokens_details?.cached_tokens),
    outputTokens: count(u.output_tokens),
    reasoningTokens: count(u.output_tokens_details?.reasoning_tokens),
    totalTokens: count(u.total_tokens),
  };
}

function stringRecord(m: unknown): Record<string, string> {
  if (!m || typeof m !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

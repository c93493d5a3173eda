import type { Batch } from 'openai/resources/batches';
import {
  BATCH_STATUSES,
  type BatchErrorItem,
  type BatchSnapshot,
  type TokenUsage,
} from '../workflows/messages';

export class UnknownBatchStatusError extends Error {}

/**
 * A provider batch object as the workflow sees it. Providers differ in small ways (DashScope writes unset
 * timestamps as 0, OpenAI as null; usage only on recent OpenAI batches); this is the one place that knows.
 */
export function toSnapshot(raw: Batch): BatchSnapshot {
  const status = raw.status;
  if (!BATCH_STATUSES.includes(status)) {
    throw new UnknownBatchStatusError(
      `Batch ${raw.id} has a status this worker does not know: '${String(raw.status)}'`,
    );
  }
  const counts = raw.request_counts;
  return {
    id: raw.id,
    status,
    endpoint: raw.endpoint,
    completionWindow: raw.completion_window,
    inputFileId: nonEmpty(raw.input_file_id),
    outputFileId: nonEmpty(raw.output_file_id),
    errorFileId: nonEmpty(raw.error_file_id),
    requestCounts: {
      total: count(counts?.total),
      completed: count(counts?.completed),
      failed: count(counts?.failed),
    },
    errors: (raw.errors?.data ?? []).map((e): BatchErrorItem => ({
      code: e.code ?? null,
      message: e.message ?? null,
      param: e.param ?? null,
      line: typeof e.line === 'number' ? e.line : null,
    })),
    usage: toUsage(raw.usage),
    metadata: stringRecord(raw.metadata),
    timestamps: {
      createdAt: ts(raw.created_at),
      inProgressAt: ts(raw.in_progress_at),
      expiresAt: ts(raw.expires_at),
      finalizingAt: ts(raw.finalizing_at),
      completedAt: ts(raw.completed_at),
      failedAt: ts(raw.failed_at),
      expiredAt: ts(raw.expired_at),
      cancellingAt: ts(raw.cancelling_at),
      cancelledAt: ts(raw.cancelled_at),
    },
  };
}

function ts(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null;
}

function count(v: number | null | undefined): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

function nonEmpty(v: string | null | undefined): string | null {
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

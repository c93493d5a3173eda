import type { ProviderKind } from '../providers';
import type { SubmissionLimits } from './types';

const MB = 1024 * 1024;

/** What a provider accepts in a batch; see /work/shared/BATCH_API.md, "Limits". */
export interface ProviderLimits extends SubmissionLimits {
  endpoints: readonly string[] | 'any';
  /** Returns null when the window is accepted, else why not. */
  checkWindow(window: string): string | null;
  metadata: {
    maxPairs: number;
    maxKeyChars: number;
    maxValueChars: number;
    dsName?: number;
    dsDescription?: number;
  };
}

const hoursOf = (w: string): number => {
  const m = /^(\d+)([hd])$/.exec(w);
  return m ? Number(m[1]) * (m[2] === 'd' ? 24 : 1) : NaN;
};

const OPENAI: ProviderLimits = {
  maxLines: 50_000,
  maxBytes: 200 * MB,
  // No per-line limit is published: the file limit bounds a line.
  maxLineBytes: 200 * MB,
  endpoints: [
    '/v1/chat/completions',
    '/v1/responses',
    '/v1/embeddings',
    '/v1/completions',
    '/v1/moderations',
    '/v1/images/generations',
  ],
  checkWindow: (w) => (w === '24h' ? null : `OpenAI only accepts completion_window '24h', got '${w}'`),
  metadata: { maxPairs: 16, maxKeyChars: 64, maxValueChars: 512 },
};

const DASHSCOPE: ProviderLimits = {
  maxLines: 50_000,
  maxBytes: 500 * MB,
  maxLineBytes: 6 * MB,
  endpoints: ['/v1/chat/completions', '/v1/embeddings'],
  checkWindow: (w) => {
    const h = hoursOf(w);
    return h >= 24 && h <= 336
      ? null
      : `DashScope accepts completion_window 24h..336h (or 1d..14d), got '${w}'`;
  },
  metadata: { maxPairs: 16, maxKeyChars: 64, maxValueChars: 512, dsName: 100, dsDescription: 200 },
};

// An unknown compatible provider: OpenAI's sizes, but no opinion on endpoints or windows it may extend.
const GENERIC: ProviderLimits = {
  ...OPENAI,
  endpoints: 'any',
  checkWindow: (w) => (hoursOf(w) > 0 ? null : `completion_window must look like '24h', got '${w}'`),
};

const baseFor = (kind: ProviderKind): ProviderLimits =>
  kind === 'openai' ? OPENAI : kind === 'dashscope' ? DASHSCOPE : GENERIC;

const OVERRIDABLE = ['maxLines', 'maxBytes', 'maxLineBytes'] as const;

/** The provider's limits, tightened by the overrides that are valid (see overrideProblems for the others). */
export function limitsFor(kind: ProviderKind, overrides: Partial<SubmissionLimits> = {}): ProviderLimits {
  const base = baseFor(kind);
  const merged = { ...base };
  for (const k of OVERRIDABLE) {
    const v = overrides[k];
    // An invalid override is reported by overrideProblems; reading with it (a line limit in GB) would not be bounded.
    if (isCount(v) && v <= base[k]) merged[k] = v;
  }
  // A line can never be larger than the file that holds it.
  merged.maxLineBytes = Math.min(merged.maxLineBytes, merged.maxBytes - 1);
  return merged;
}

/**
 * Overrides exist to be stricter than the provider (or small in tests): one above the provider's limit would
 * stage files the provider then fails at validation, after the upload, so it is refused up front.
 */
export function overrideProblems(
  kind: ProviderKind,
  overrides: Partial<SubmissionLimits> = {},
): { code: string; message: string }[] {
  const base = baseFor(kind);
  const found: { code: string; message: string }[] = [];
  for (const k of OVERRIDABLE) {
    const v: unknown = overrides[k];
    if (v === undefined) continue;
    if (!isCount(v))
      found.push({
        code: 'invalid_limit',
        message: `limits.${k} must be a whole number >= 1, got ${JSON.stringify(v)}`,
      });
    else if (v > base[k])
      found.push({
        code: 'limit_above_provider',
        message: `limits.${k} ${v} is above the provider's limit (${kind}: ${base[k]}); overrides may only tighten it`,
      });
  }
  return found;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

/** Metadata keys batchkeeper adds to every batch it creates. */
export const TAG_WORKFLOW_ID = 'batchkeeper_workflow_id';
export const TAG_CHUNK = 'batchkeeper_chunk';
/** The content key (content-key.ts): a batch is adopted only when this and the workflow tag both match. */
export const TAG_CONTENT = 'batchkeeper_content';
export const RESERVED_TAGS = [TAG_WORKFLOW_ID, TAG_CHUNK, TAG_CONTENT];

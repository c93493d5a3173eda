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

export function limitsFor(kind: ProviderKind, overrides: Partial<SubmissionLimits> = {}): ProviderLimits {
  const base = kind === 'openai' ? OPENAI : kind === 'dashscope' ? DASHSCOPE : GENERIC;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => typeof v === 'number'));
  const merged = { ...base, ...defined };
  // A line can never be larger than the file that holds it.
  merged.maxLineBytes = Math.min(merged.maxLineBytes, merged.maxBytes - 1);
  return merged;
}

/** Metadata keys batchkeeper adds to every batch it creates. */
export const TAG_WORKFLOW_ID = 'batchkeeper_workflow_id';
export const TAG_CHUNK = 'batchkeeper_chunk';
export const RESERVED_TAGS = [TAG_WORKFLOW_ID, TAG_CHUNK];

import { createHash } from 'node:crypto';
import type { CreateBatchInput } from './types';

/** What a batch create sends, as far as it decides what runs and is billed. */
export interface ContentParams {
  /** The validated (wrapped, normalized) chunk's sha256, or the provider file given as the source. */
  input: { sha256: string } | { fileId: string };
  endpoint: string;
  completionWindow: string;
  model?: string | null;
  /** The user's metadata (not our tags). */
  metadata?: Record<string, string>;
}

/**
 * The content key: sha256 over everything a create sends that decides what runs and what it costs. A retry
 * adopts a batch or an upload only when it carries the same key, so a reused submission name with corrected
 * content (even of the same size) never runs, and bills, the earlier content. 64 hex chars: fits a metadata
 * value on every provider (OpenAI allows 512).
 */
export function contentKey(p: ContentParams): string {
  const metadata = Object.entries(p.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = JSON.stringify([
    'batchkeeper-content-v1',
    'sha256' in p.input ? `sha256:${p.input.sha256}` : `file:${p.input.fileId}`,
    p.endpoint,
    p.completionWindow,
    p.model ?? null,
    metadata,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** The content key of a createBatch input (a chunk to upload, or a provider file). */
export function contentKeyOf(input: CreateBatchInput): string {
  return contentKey({
    input: input.chunk ? { sha256: input.chunk.sha256 } : { fileId: input.inputFileId ?? '' },
    endpoint: input.endpoint,
    completionWindow: input.completionWindow ?? '24h',
    model: input.model,
    metadata: input.metadata,
  });
}

import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import type { FileObject } from 'openai/resources/files';
import { asApiError } from '../errors';
import type { ProviderKind } from '../providers';
import { TAG_CONTENT, TAG_WORKFLOW_ID } from './limits';

const PAGE = 100;
/** Legacy candidates proven at most per create: each proof may download an input file. */
const MAX_LEGACY = 3;

export interface SearchBounds {
  /** Unix seconds; listing is newest first, so the search ends at the first older item. */
  since: number | undefined;
  maxPages: number;
}

export interface OwnBatchSearch {
  workflowId: string;
  contentKey: string;
}

export interface OwnBatches {
  /** A batch carrying our workflow tag and our content key (or, on DashScope, made from our own upload). */
  match: Batch | null;
  /**
   * Batches with our workflow tag and no content key: made by the version before content keys. Ours only if
   * proven to be the same request (legacy.ts); never adopted on the tag alone.
   */
  legacy: Batch[];
}

/**
 * Looks for the batch an earlier attempt created: listed newest first, matched on our workflow tag and
 * content key. A batch with our workflow tag and another content key is a different request (a reused
 * submission name with other content): skipped, never adopted. On DashScope the list is narrowed
 * server-side by ds_name (when set). `ownUploadId` is a file this workflow uploaded (found by its name, which
 * carries the content key): a batch made from it is ours even where metadata is not shown. Never pass a
 * user-given file id there: other workflows may run batches from the same file.
 */
export async function findOwnBatch(
  client: OpenAI,
  kind: ProviderKind,
  own: OwnBatchSearch,
  bounds: SearchBounds,
  narrow: { dsName?: string; ownUploadId?: string } = {},
): Promise<OwnBatches> {
  const query: Record<string, unknown> = { limit: PAGE };
  if (kind === 'dashscope') {
    if (narrow.dsName) query.ds_name = narrow.dsName;
    if (narrow.ownUploadId) query.input_file_ids = narrow.ownUploadId;
  }
  const legacy: Batch[] = [];
  let seen = 0;
  for await (const b of client.batches.list(query)) {
    if (bounds.since !== undefined && b.created_at > 0 && b.created_at < bounds.since) break;
    const m = b.metadata as Record<string, unknown> | null | undefined;
    const tag = m?.[TAG_WORKFLOW_ID];
    const key = m?.[TAG_CONTENT];
    if (tag === own.workflowId) {
      if (key === own.contentKey) return { match: b, legacy };
      if (key === undefined && legacy.length < MAX_LEGACY) legacy.push(b);
    } else if (tag === undefined && narrow.ownUploadId && b.input_file_id === narrow.ownUploadId) {
      return { match: b, legacy };
    }
    if (++seen >= bounds.maxPages * PAGE) break;
  }
  return { match: null, legacy };
}

export interface UploadSearch {
  file: FileObject | null;
  /** False when the provider has no file listing: nothing could be looked up. */
  listed: boolean;
}

/**
 * An earlier attempt's upload, found by its file name (which carries the workflow id and the content key) and
 * its size. File listing is optional among compatible providers: a 404/405/501 on `GET /files` means there
 * is none, and the caller uploads without the lookup (the batch is still found by its content tag).
 */
export async function findOwnUpload(
  client: OpenAI,
  name: string,
  bytes: number,
  bounds: SearchBounds,
): Promise<UploadSearch> {
  let seen = 0;
  try {
    for await (const f of client.files.list({ purpose: 'batch', limit: PAGE, order: 'desc' })) {
      if (bounds.since !== undefined && f.created_at > 0 && f.created_at < bounds.since) break;
      if (f.filename === name && f.bytes === bytes) return { file: f, listed: true };
      if (++seen >= bounds.maxPages * PAGE) break;
    }
  } catch (err) {
    const status = asApiError(err)?.status;
    if (seen === 0 && (status === 404 || status === 405 || status === 501))
      return { file: null, listed: false };
    throw err;
  }
  return { file: null, listed: true };
}

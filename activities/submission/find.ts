import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import type { FileObject } from 'openai/resources/files';
import type { ProviderKind } from '../providers';
import { TAG_WORKFLOW_ID } from './limits';

const PAGE = 100;

export interface SearchBounds {
  /** Unix seconds; listing is newest first, so the search ends at the first older item. */
  since: number | undefined;
  maxPages: number;
}

/**
 * Looks for the batch an earlier attempt created: listed newest first, matched on our metadata tag.
 * On DashScope the list is narrowed server-side by ds_name (when set). `ownUploadId` is a file this
 * workflow uploaded (found by its name): a batch made from it is ours even where metadata is not shown.
 * Never pass a user-given file id there: other workflows may run batches from the same file.
 */
export async function findOwnBatch(
  client: OpenAI,
  kind: ProviderKind,
  workflowId: string,
  bounds: SearchBounds,
  narrow: { dsName?: string; ownUploadId?: string } = {},
): Promise<Batch | null> {
  const query: Record<string, unknown> = { limit: PAGE };
  if (kind === 'dashscope') {
    if (narrow.dsName) query.ds_name = narrow.dsName;
    if (narrow.ownUploadId) query.input_file_ids = narrow.ownUploadId;
  }
  let seen = 0;
  for await (const b of client.batches.list(query)) {
    if (bounds.since !== undefined && b.created_at > 0 && b.created_at < bounds.since) return null;
    const tag = (b.metadata as Record<string, unknown> | null | undefined)?.[TAG_WORKFLOW_ID];
    if (tag === workflowId) return b;
    if (narrow.ownUploadId && b.input_file_id === narrow.ownUploadId) return b;
    if (++seen >= bounds.maxPages * PAGE) return null;
  }
  return null;
}

/** An earlier attempt's upload, found by its file name (which carries the workflow id) and its size. */
export async function findOwnUpload(
  client: OpenAI,
  name: string,
  bytes: number,
  bounds: SearchBounds,
): Promise<FileObject | null> {
  let seen = 0;
  for await (const f of client.files.list({ purpose: 'batch', limit: PAGE, order: 'desc' })) {
    if (bounds.since !== undefined && f.created_at > 0 && f.created_at < bounds.since) return null;
    if (f.filename === name && f.bytes === bytes) return f;
    if (++seen >= bounds.maxPages * PAGE) return null;
  }
  return null;
}

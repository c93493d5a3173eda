import { createHash } from 'node:crypto';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { asApiError } from '../errors';
import { sameMetadata, userMetadata } from './metadata';
import { abortSignal, beat } from './progress';
import type { CreateBatchInput } from './types';

/**
 * Whether a batch tagged by the version before content keys (workflow tag only) is provably the request this
 * create would send: a createBatch attempt that ran before the deploy may have created it, and creating again
 * would bill twice. Proven when endpoint, window and user metadata are equal and the input is the same: the
 * same provider file for a `fileId` source; for an upload, the batch's input file has the chunk's size and its
 * bytes, streamed back from the provider, hash to the chunk's sha256.
 *
 * Where that cannot be shown (the input file is gone, or the provider refuses to serve it) the answer is
 * false and a fresh batch is created: a duplicate is possible only for an attempt that straddled the deploy.
 * Transient errors (5xx, network, 429) are thrown, so the activity retries rather than decides.
 */
export async function provesSameRequest(client: OpenAI, b: Batch, input: CreateBatchInput): Promise<boolean> {
  if (b.endpoint !== input.endpoint) return false;
  if (b.completion_window !== (input.completionWindow ?? '24h')) return false;
  if (!sameMetadata(userMetadata(b.metadata), input.metadata)) return false;
  if (!input.chunk) return b.input_file_id === input.inputFileId;
  const chunk = input.chunk;
  try {
    const file = await client.files.retrieve(b.input_file_id);
    if (file.bytes !== chunk.bytes) return false;
    const res = await client.files.content(b.input_file_id, { signal: abortSignal() });
    const hash = createHash('sha256');
    let read = 0;
    if (!res.body) throw new Error('the provider sent no body');
    for await (const part of res.body as ReadableStream<Uint8Array>) {
      hash.update(part);
      read += part.byteLength;
      beat({ phase: 'verify-legacy', bytesRead: read, bytesTotal: chunk.bytes });
      if (read > chunk.bytes) return false;
    }
    return read === chunk.bytes && hash.digest('hex') === chunk.sha256;
  } catch (err) {
    const status = asApiError(err)?.status;
    if (status !== undefined && status >= 400 && status < 500 && ![408, 409, 429].includes(status))
      return false;
    throw err;
  }
}

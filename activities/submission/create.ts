import type OpenAI from 'openai';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Batch } from 'openai/resources/batches';
import type { FileObject } from 'openai/resources/files';
import type { BatchSnapshot } from '../../workflows/contract';
import { crashPoint } from '../crash-points';
import { asApiError, classifyProviderError } from '../errors';
import { toSnapshot } from '../normalize';
import type { ProviderRegistry } from '../providers';
import { redactSecrets } from '../redact';
import { contentKeyOf } from './content-key';
import { SubmissionErrorTypes } from './failures';
import { findOwnBatch, findOwnUpload, type SearchBounds } from './find';
import { provesSameRequest } from './legacy';
import { batchMetadata } from './metadata';
import { multipartBody } from './multipart';
import { abortSignal, beat } from './progress';
import { safeName } from './staging';
import type { CreateBatchInput, CreateBatchResult, SubmissionChunk } from './types';

/**
 * The upload's file name carries the workflow id and the content key, so a retry can find an upload whose
 * answer was lost, and only one holding the same content (a corrected file of the same size is uploaded anew).
 */
export function uploadName(workflowId: string, chunkIndex: number, contentKey: string): string {
  return `batchkeeper-${safeName(workflowId)}-chunk-${chunkIndex}-${contentKey}.jsonl`;
}

/**
 * Uploads a staging chunk (unless given a provider file) and creates the batch, idempotently by content:
 * before uploading and before creating it looks for what an earlier attempt of the same workflow did with
 * the same content and create parameters (a batch tagged with our workflow id and content key; an upload
 * whose name carries both) and adopts it, so a create whose response was lost never produces a second paid
 * batch, and a reused submission name with other content never adopts the earlier batch or upload.
 */
export async function createBatch(
  providers: ProviderRegistry,
  input: CreateBatchInput,
): Promise<CreateBatchResult> {
  const profile = providers.profile(input.provider);
  const client = providers.client(input.provider);
  const ctx = (operation: string) => ({ provider: input.provider, operation, apiKeyEnv: profile.apiKeyEnv });
  if (!input.chunk && !input.inputFileId)
    throw ApplicationFailure.nonRetryable(
      'createBatch needs a chunk or an inputFileId',
      SubmissionErrorTypes.invalidSubmission,
    );
  const bounds: SearchBounds = { since: input.searchSince, maxPages: input.maxListPages ?? 20 };
  const dsName = input.metadata?.ds_name;
  const key = contentKeyOf(input);
  const own = { workflowId: input.workflowId, contentKey: key };

  const found = await call(ctx('list batches'), () =>
    findOwnBatch(client, profile.kind, own, bounds, { dsName }),
  );
  if (found.match) return adopted(found.match, false, input, key);
  for (const b of found.legacy) {
    if (await call(ctx(`verify the input of batch ${b.id}`), () => provesSameRequest(client, b, input)))
      return adopted(b, false, input, key);
    log.info('a batch with our workflow tag but no content key is another request: not adopted', {
      batchId: b.id,
      provider: input.provider,
    });
  }

  let inputFileId = input.inputFileId;
  let reusedFile = false;
  /** The input file is batchkeeper's (uploaded now or by an earlier attempt), not the user's. */
  let ownUpload = false;
  if (!inputFileId) {
    const chunk = input.chunk as NonNullable<CreateBatchInput['chunk']>;
    const name = uploadName(input.workflowId, chunk.index, key);
    const prior = await call(ctx('list files'), () => findOwnUpload(client, name, chunk.bytes, bounds));
    if (!prior.listed)
      log.info('the provider has no file listing: uploading without looking for an earlier upload', {
        provider: input.provider,
      });
    ownUpload = true;
    if (prior.file) {
      inputFileId = prior.file.id;
      reusedFile = true;
      // Where custom metadata may be hidden, a batch made from our own upload is the one to adopt.
      if (profile.kind === 'dashscope') {
        const byFile = await call(ctx('list batches'), () =>
          findOwnBatch(client, profile.kind, own, bounds, { ownUploadId: prior.file?.id }),
        );
        if (byFile.match) return adopted(byFile.match, true, input, key);
      }
    } else {
      inputFileId = await upload(client, chunk, name, ctx('upload file'));
      crashPoint('after-upload');
    }
  }

  let raw: Batch;
  try {
    raw = await client.batches.create(
      {
        input_file_id: inputFileId,
        endpoint: input.endpoint as OpenAI.Batches.BatchCreateParams['endpoint'],
        completion_window: (input.completionWindow ?? '24h') as '24h',
        metadata: batchMetadata(input.metadata, input.workflowId, input.chunk?.index, key),
      },
      { signal: abortSignal() },
    );
  } catch (err) {
    const failure = classifyProviderError(err, ctx('create batch'));
    const status = asApiError(err)?.status ?? 0;
    // Refused for good: no batch will ever use our upload, so it goes (a retryable failure keeps it: the
    // next attempt reuses it). A file the user gave is theirs and stays.
    if (ownUpload && failure.nonRetryable && status >= 400 && status < 500)
      await deleteOrphan(client, inputFileId, input.provider);
    throw failure;
  }
  crashPoint('after-create');
  log.info('batch created', { batchId: raw.id, provider: input.provider, inputFileId, reusedFile });
  return {
    snapshot: snapshot(raw, input.provider),
    adopted: false,
    reusedFile,
    inputFileId,
    contentKey: key,
  };
}

function adopted(b: Batch, reusedFile: boolean, input: CreateBatchInput, key: string): CreateBatchResult {
  log.info('adopted the batch an earlier attempt created', { batchId: b.id, provider: input.provider });
  return {
    snapshot: snapshot(b, input.provider),
    adopted: true,
    reusedFile,
    inputFileId: b.input_file_id,
    contentKey: key,
  };
}

/** Best effort: the create's own failure is what the caller must see, whatever the delete answers. */
async function deleteOrphan(client: OpenAI, fileId: string, provider: string): Promise<void> {
  try {
    await client.files.delete(fileId);
    log.info('deleted our upload after the provider refused the create', { fileId, provider });
  } catch (err) {
    if (asApiError(err)?.status === 404) return;
    log.warn('could not delete our upload after the provider refused the create', {
      fileId,
      provider,
      error: redactSecrets(err instanceof Error ? err.message : String(err)),
    });
  }
}

/** Streams the chunk to the provider, hashing on the way: a staging file changed since validation is refused. */
async function upload(
  client: OpenAI,
  chunk: Pick<SubmissionChunk, 'path' | 'bytes' | 'sha256'>,
  name: string,
  ctx: { provider: string; operation: string; apiKeyEnv: string },
): Promise<string> {
  const size = await stat(chunk.path).then(
    (s) => s.size,
    () => null,
  );
  if (size === null)
    throw ApplicationFailure.nonRetryable(
      `Staging file ${chunk.path} is missing on this worker: staging must be on storage every worker of the task queue reads.`,
      SubmissionErrorTypes.stagingChanged,
    );
  if (size !== chunk.bytes)
    throw ApplicationFailure.nonRetryable(
      `Staging file ${chunk.path} is ${size} bytes, validation wrote ${chunk.bytes}: it changed; validate again.`,
      SubmissionErrorTypes.stagingChanged,
    );
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Buffer> {
    let sent = 0;
    for await (const c of createReadStream(chunk.path, {
      highWaterMark: 1024 * 1024,
    }) as AsyncIterable<Buffer>) {
      hash.update(c);
      sent += c.length;
      beat({ phase: 'upload', bytesSent: sent, bytesTotal: size });
      yield c;
    }
  }
  // Our own multipart body rather than `files.create({ file: toStreamingFile(...) })`: its length is known,
  // so it goes out with Content-Length instead of chunked (which some gateways refuse for uploads).
  const form = multipartBody(
    { purpose: 'batch' },
    { field: 'file', filename: name, contentType: 'application/jsonl', size, data: hashed() },
  );
  const file = await call(ctx, () =>
    client.post<FileObject>('/files', {
      body: form.body,
      headers: { 'content-type': form.contentType, 'content-length': String(form.contentLength) },
      // Node's fetch (undici) follows redirects by cloning the request, which tees a stream body: the copy
      // kept for a redirect that never comes buffers the whole upload in memory (~file size of
      // ArrayBuffers). A streamed body cannot be replayed to a redirect anyway; 'error' skips the clone.
      fetchOptions: { redirect: 'error' },
      // The client's per-request timeout is sized for small calls: an upload gets time for its bytes on top
      // (at a pessimistic 2 MB/s), or a large file would time out on every attempt. A stalled upload is still
      // caught sooner: it stops heartbeating and Temporal's heartbeat timeout aborts it.
      timeout: client.timeout + Math.ceil(form.contentLength / 2_000),
      signal: abortSignal(),
    }),
  );
  const digest = hash.digest('hex');
  if (digest !== chunk.sha256) {
    await client.files.delete(file.id).catch(() => undefined);
    throw ApplicationFailure.nonRetryable(
      `Staging file ${chunk.path} changed since validation (sha256 ${digest}, expected ${chunk.sha256}); validate again.`,
      SubmissionErrorTypes.stagingChanged,
    );
  }
  return file.id;
}

async function call<T>(
  ctx: { provider: string; operation: string; apiKeyEnv?: string },
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyProviderError(err, ctx);
  }
}

/** A bad answer is a snapshot with anomalies (toSnapshot never throws on one). */
function snapshot(raw: Batch, _provider: string): BatchSnapshot {
  return toSnapshot(raw);
}

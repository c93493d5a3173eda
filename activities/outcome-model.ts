import type { ApplicationFailure } from '@temporalio/common';
import type { RecordOutcomeInput } from '../workflows/shared/activity-types';
import { classifyProviderError } from './errors';
import type { ProviderRegistry } from './providers';
import { readLines } from './submission/lines';

/**
 * A first line longer than this names no model for us: DashScope caps a line at 6 MB, and an OpenAI line of
 * inline images may be larger still; reading further would hold the whole line in memory.
 */
export const MAX_FIRST_LINE_BYTES = 16 * 1024 * 1024;

export type ModelSource = 'batch' | 'submission' | 'input-file' | 'provider-input-file';

export interface ResolvedModel {
  model: string | null;
  source: ModelSource | null;
  /** Why no input file named the model (missing, refused, not JSON...): for the log, never fatal. */
  problem: string | null;
  /** The provider failed transiently while we read its input file: an activity retry may still find the model. */
  retryable: ApplicationFailure | null;
}

/**
 * The batch's model for the ledger (which prices by it): the batch object's (OpenAI reports it), else the
 * submission's (from validation), else the `model` of the input file's first request: the normalized file on
 * this worker, else the provider's copy. A batch uses one model, so one line is enough; DashScope's batch
 * object names none.
 */
export async function resolveOutcomeModel(
  providers: ProviderRegistry,
  input: RecordOutcomeInput,
): Promise<ResolvedModel> {
  const found = (model: string, source: ModelSource): ResolvedModel => ({
    model,
    source,
    problem: null,
    retryable: null,
  });
  const fromBatch = nonEmpty(input.outcome.snapshot.model);
  if (fromBatch) return found(fromBatch, 'batch');
  const fromSubmission = nonEmpty(input.model);
  if (fromSubmission) return found(fromSubmission, 'submission');

  const problems: string[] = [];
  if (input.inputPath) {
    try {
      const model = modelOfLine(await firstLineOfFile(input.inputPath));
      if (model) return found(model, 'input-file');
      problems.push(`input file ${input.inputPath} names no model in its first line`);
    } catch (err) {
      // Another worker's staging, or cleaned up: the provider's copy may still be there.
      problems.push(`cannot read input file ${input.inputPath}: ${(err as Error).message}`);
    }
  }
  const fileId = input.outcome.snapshot.inputFileId;
  if (!fileId)
    return { model: null, source: null, problem: joined(problems, 'no input file'), retryable: null };
  try {
    const model = modelOfLine(await firstLineOfProviderFile(providers, input.outcome.provider, fileId));
    if (model) return found(model, 'provider-input-file');
    problems.push(`provider input file ${fileId} names no model in its first line`);
    return { model: null, source: null, problem: joined(problems), retryable: null };
  } catch (err) {
    const failure = classifyProviderError(err, {
      provider: input.outcome.provider,
      operation: `read input file ${fileId} of`,
      batchId: input.outcome.batchId,
    });
    problems.push(failure.message);
    // Refusals (OpenAI does not serve `batch` input files, a deleted file, no key) will not change on a retry.
    return {
      model: null,
      source: null,
      problem: joined(problems),
      retryable: failure.nonRetryable ? null : failure,
    };
  }
}

function joined(problems: string[], fallback = ''): string {
  return problems.length ? problems.join('; ') : fallback;
}

function nonEmpty(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v : null;
}

/** `body.model` of a request line; a bare request body's own `model` also counts. */
export function modelOfLine(line: string | null): string | null {
  if (line === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== 'object') return null;
  const o = parsed as Record<string, unknown>;
  const body = o.body && typeof o.body === 'object' ? (o.body as Record<string, unknown>) : null;
  return nonEmpty(body?.model) ?? nonEmpty(o.model);
}

async function firstLineOfFile(path: string): Promise<string | null> {
  // Leaving the loop closes the file: only the first non-blank line is read.
  for await (const line of readLines(path, MAX_FIRST_LINE_BYTES)) {
    if (line.text === null) return null;
    if (line.text.trim() !== '') return line.text;
  }
  return null;
}

/** Streams the provider's file only up to its first non-blank line, then aborts the download. */
async function firstLineOfProviderFile(
  providers: ProviderRegistry,
  provider: string,
  fileId: string,
): Promise<string | null> {
  const client = providers.client(provider);
  const abort = new AbortController();
  try {
    const res = await client.files.content(fileId, { signal: abort.signal });
    if (!res.body) return null;
    return await firstLineOfStream(res.body);
  } finally {
    abort.abort();
  }
}

export async function firstLineOfStream(body: ReadableStream<Uint8Array>): Promise<string | null> {
  const reader = body.getReader();
  const parts: Buffer[] = [];
  let read = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      read += chunk.length;
      let start = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
        parts.push(chunk.subarray(start, nl));
        const line = Buffer.concat(parts).toString('utf8');
        if (line.trim() !== '') return line;
        parts.length = 0;
        start = nl + 1;
      }
      parts.push(chunk.subarray(start));
      // Counts blank lines too, so a file of only newlines cannot keep us reading either.
      if (read > MAX_FIRST_LINE_BYTES) return null;
    }
    const last = Buffer.concat(parts).toString('utf8');
    return last.trim() !== '' ? last : null;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

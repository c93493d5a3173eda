import type OpenAI from 'openai';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ErrorTypes } from '../../workflows/shared/error-types';
import { crashPoint } from '../crash-points';
import { classifyProviderError } from '../errors';
import type { ProviderRegistry } from '../providers';
import { LineSplitter, readLines } from './lines';
import {
  FILE_NAMES,
  readManifest,
  verifyManifest,
  writeManifest,
  type Manifest,
  type ManifestFile,
} from './manifest';
import { abortSignal, beat } from './progress';
import { resultsDirFor } from './staging';
import { ResultSummarizer } from './summary';
import type { DownloadResultsInput, DownloadResultsResult, ResultFileKind } from './types';

/** Result lines longer than this are kept on disk but not parsed for the summary. */
const MAX_RESULT_LINE_BYTES = 64 * 1024 * 1024;

export interface DownloadDeps {
  providers: ProviderRegistry;
  resultsDir: string;
}

/**
 * Streams the batch's output and error files into `<resultsDir>/<batchId>/`, hashing and summarizing on the
 * way, then writes the manifest. Each file lands under a temp name and is renamed when complete, the
 * manifest last: a manifest always describes complete files. Idempotent: when the manifest names the same
 * file ids and every file still re-hashes to its checksum, nothing is downloaded again.
 */
export async function downloadResults(
  deps: DownloadDeps,
  input: DownloadResultsInput,
): Promise<DownloadResultsResult> {
  const dir = resultsDirFor(deps.resultsDir, input.batchId);
  await mkdir(dir, { recursive: true });
  const wanted: { kind: ResultFileKind; fileId: string }[] = [];
  if (input.outputFileId) wanted.push({ kind: 'output', fileId: input.outputFileId });
  if (input.errorFileId) wanted.push({ kind: 'error', fileId: input.errorFileId });

  if (!input.force) {
    const m = await readManifest(dir);
    if (m && sameFiles(m, wanted) && (await verifyManifest(dir, m)).length === 0) {
      await removeStrayTemps(dir);
      return fromManifest(dir, m, true);
    }
  }

  const client = deps.providers.client(input.provider);
  const summarizer = new ResultSummarizer();
  const files: ManifestFile[] = [];
  for (const w of wanted) {
    files.push(await downloadOne(client, input, w.kind, w.fileId, dir, summarizer));
  }
  if (input.inputPath) {
    for await (const line of readLines(input.inputPath, MAX_RESULT_LINE_BYTES)) {
      const id = line.text ? customIdOf(line.text) : null;
      if (id !== null) summarizer.addInputId(id);
    }
  }
  // A file of an earlier download that this batch no longer has would otherwise look like a result.
  for (const kind of ['output', 'error'] as const) {
    if (!files.some((f) => f.kind === kind)) await rm(join(dir, FILE_NAMES[kind]), { force: true });
  }
  const manifest: Manifest = {
    version: 1,
    provider: input.provider,
    batchId: input.batchId,
    writtenAt: new Date().toISOString(),
    inputPath: input.inputPath ?? null,
    files,
    summary: summarizer.summary,
    tokens: summarizer.tokens,
  };
  await writeManifest(dir, manifest);
  await removeStrayTemps(dir);
  log.info('batch results downloaded', { batchId: input.batchId, files: files.length, ...manifest.summary });
  return fromManifest(dir, manifest, false);
}

/**
 * Temp files of attempts that died mid-write (a killed worker runs no clean-up): once a manifest describes
 * complete files they are nobody's. An attempt still writing one would be a timed-out attempt whose result
 * Temporal discards anyway.
 */
async function removeStrayTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) await rm(join(dir, name), { force: true });
  }
}

function sameFiles(m: Manifest, wanted: { kind: ResultFileKind; fileId: string }[]): boolean {
  return (
    m.files.length === wanted.length &&
    wanted.every((w) => m.files.some((f) => f.kind === w.kind && f.fileId === w.fileId))
  );
}

function fromManifest(dir: string, m: Manifest, skipped: boolean): DownloadResultsResult {
  return {
    dir,
    files: m.files.map((f) => ({
      kind: f.kind,
      fileId: f.fileId,
      path: join(dir, f.name),
      bytes: f.bytes,
      lines: f.lines,
      sha256: f.sha256,
    })),
    summary: m.summary,
    tokens: m.tokens,
    skipped,
  };
}

async function downloadOne(
  client: OpenAI,
  input: DownloadResultsInput,
  kind: ResultFileKind,
  fileId: string,
  dir: string,
  summarizer: ResultSummarizer,
): Promise<ManifestFile> {
  const name = FILE_NAMES[kind];
  const path = join(dir, name);
  // A unique temp name: an attempt that timed out may still be writing its own.
  const tmp = join(dir, `${name}.${randomBytes(4).toString('hex')}.tmp`);
  const ctx = {
    provider: input.provider,
    operation: `download ${kind} file ${fileId} of`,
    batchId: input.batchId,
  };
  const hash = createHash('sha256');
  let bytes = 0;
  let lines = 0;
  const splitter = new LineSplitter(MAX_RESULT_LINE_BYTES, (l) => {
    if (l.text === null || l.text.trim() !== '') lines += 1;
    summarizer.addLine(l.text);
  });
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        hash.update(chunk);
        bytes += chunk.length;
        splitter.push(chunk);
        beat({ phase: 'download', kind, bytes });
        done(null, chunk);
        crashPoint('during-download');
      } catch (e) {
        done(e as Error);
      }
    },
    flush(done) {
      splitter.end();
      done();
    },
  });
  try {
    const res = await client.files.content(fileId, { signal: abortSignal() });
    if (!res.body) throw new Error('the provider sent no body');
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), tap, createWriteStream(tmp));
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof ApplicationFailure) throw err;
    if ((err as { name?: string }).name === 'CancelledFailure') throw err;
    // A stream cut mid-body is a network failure: retryable; the next attempt starts over.
    const failure = classifyProviderError(err, ctx);
    if (failure.type === ErrorTypes.notFound)
      throw ApplicationFailure.nonRetryable(
        `${kind} file ${fileId} of batch ${input.batchId} is gone at provider '${input.provider}' (404)`,
        ErrorTypes.notFound,
      );
    throw failure;
  }
  return { kind, fileId, name, bytes, lines, sha256: hash.digest('hex') };
}

function customIdOf(text: string): string | null {
  if (text.trim() === '') return null;
  try {
    const v = JSON.parse(text) as { custom_id?: unknown };
    return typeof v.custom_id === 'string' ? v.custom_id : null;
  } catch {
    return null;
  }
}

import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { fakeResponse } from './fake-responses';
import { requestFails, shortHash } from './hash';
import { readLines } from './lines';
import { newId, type FileStore } from './store';
import type { BatchRec } from './types';
import { parseInputLine } from './validate-input';

export interface WriteResultsParams {
  rec: BatchRec;
  files: FileStore;
  /** Requests (in input order) that ran before the end. */
  ran: number;
  /** error.code for requests that never ran (batch_cancelled / batch_expired). */
  restCode: string;
  restMessage: string;
  /** When request i finished (unix seconds), for the `created` field of its response body. */
  finishedAt: (i: number) => number;
  createdAt: number;
}

class JsonlWriter {
  lines = 0;
  private readonly hash = createHash('sha256');
  private readonly out: WriteStream;
  private failed: Error | null = null;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
    this.out.on('error', (e) => {
      this.failed = e;
    });
  }

  /** Honours backpressure, so a 50,000-line result never piles up in memory. */
  async write(obj: unknown): Promise<void> {
    if (this.failed) throw this.failed;
    this.lines += 1;
    const line = `${JSON.stringify(obj)}\n`;
    this.hash.update(line);
    if (!this.out.write(line)) await once(this.out, 'drain');
  }

  /** sha256 of everything written: what the file serves. */
  digest(): string {
    return this.hash.digest('hex');
  }

  async close(): Promise<void> {
    this.out.end();
    await once(this.out, 'finish');
    if (this.failed) throw this.failed;
  }
}

/**
 * Streams the input once more and writes the output file (succeeded requests) and the error file (failed
 * ones, then never-run ones), in input order. A file with no lines is not created (its id stays null).
 */
export async function writeResults(
  p: WriteResultsParams,
): Promise<{ outputFileId: string | null; errorFileId: string | null }> {
  const { rec, files } = p;
  const outId = newId('file-');
  const errId = newId('file-');
  const out = new JsonlWriter(files.pathFor(outId));
  const err = new JsonlWriter(files.pathFor(errId));
  try {
    let i = 0;
    for await (const line of readLines(rec.inputPath, Number.MAX_SAFE_INTEGER)) {
      if (line.text === null || line.text.trim() === '') continue;
      const parsed = parseInputLine(line.text, line.lineNo, rec.endpoint);
      // Validation already accepted every line; a parse failure here means the file changed on disk.
      if ('error' in parsed) throw new Error(`input changed after validation: ${parsed.error.message}`);
      const { customId, body } = parsed.req;
      const id = `batch_req_${shortHash(`${rec.id}:${customId}`)}`;
      const requestId = `req_${shortHash(`req:${rec.id}:${customId}`, 32)}`;
      if (i >= p.ran) {
        await err.write({
          id,
          custom_id: customId,
          response: null,
          error: { code: p.restCode, message: p.restMessage },
        });
      } else if (requestFails(customId, rec.failureRate)) {
        const message = 'The server had an error while processing your request. Sorry about that!';
        await err.write({
          id,
          custom_id: customId,
          response: {
            status_code: 500,
            request_id: requestId,
            body: { error: { message, type: 'server_error', param: null, code: 'server_error' } },
          },
          error: { code: 'server_error', message },
        });
      } else {
        const r = fakeResponse(rec.endpoint, body, customId, Math.floor(p.finishedAt(i)));
        await out.write({
          id,
          custom_id: customId,
          response: { status_code: 200, request_id: requestId, body: r.body },
          error: null,
        });
      }
      i += 1;
    }
  } finally {
    await Promise.all([out.close(), err.close()]);
  }
  const keep = async (w: JsonlWriter, id: string, kind: string): Promise<string | null> => {
    if (w.lines === 0) {
      await rm(w.path, { force: true });
      return null;
    }
    await files.register(id, `${rec.id}_${kind}.jsonl`, `batch_output`, p.createdAt, w.digest());
    return id;
  };
  return { outputFileId: await keep(out, outId, 'output'), errorFileId: await keep(err, errId, 'error') };
}

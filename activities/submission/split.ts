import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { SubmissionChunk, SubmissionLimits } from './types';

/** Greedy planning: a line starts a new chunk when the current one would pass either limit. Lines are never split. */
export function startsNewChunk(
  current: { lines: number; bytes: number },
  lineBytesWithNewline: number,
  limits: Pick<SubmissionLimits, 'maxLines' | 'maxBytes'>,
): boolean {
  if (current.lines === 0) return false;
  return current.lines + 1 > limits.maxLines || current.bytes + lineBytesWithNewline > limits.maxBytes;
}

export function chunkFileName(index: number): string {
  return `chunk-${String(index).padStart(3, '0')}.jsonl`;
}

interface Open {
  index: number;
  path: string;
  tmp: string;
  out: WriteStream;
  hash: Hash;
  lines: number;
  bytes: number;
  firstLine: number;
  lastLine: number;
  tokens: number;
  error: Error | null;
}

/**
 * Writes normalized lines into staging chunk files, starting a new file whenever the provider's limits
 * would be passed. Streams with backpressure; each file is written under a temp name and renamed when complete.
 */
export class ChunkWriter {
  private open: Open | null = null;
  private readonly done: SubmissionChunk[] = [];
  private counted = false;

  constructor(
    private readonly dir: string,
    private readonly limits: Pick<SubmissionLimits, 'maxLines' | 'maxBytes'>,
  ) {}

  /** `tokens`: the line's estimated input tokens, summed per chunk when a token budget applies. */
  async write(text: string, sourceLine: number, tokens?: number): Promise<void> {
    const data = `${text}\n`;
    const size = Buffer.byteLength(data);
    if (this.open && startsNewChunk(this.open, size, this.limits)) await this.closeCurrent();
    const c = this.open ?? this.start(sourceLine);
    c.lines += 1;
    c.bytes += size;
    c.lastLine = sourceLine;
    if (tokens !== undefined) c.tokens += tokens;
    this.counted ||= tokens !== undefined;
    c.hash.update(data);
    if (c.error) throw c.error;
    if (!c.out.write(data)) await once(c.out, 'drain');
  }

  async close(): Promise<SubmissionChunk[]> {
    await this.closeCurrent();
    return this.done;
  }

  /** Closes without keeping anything (the caller removes the directory). */
  async abort(): Promise<void> {
    const c = this.open;
    this.open = null;
    if (c) {
      c.out.destroy();
      await once(c.out, 'close').catch(() => undefined);
    }
  }

  private start(sourceLine: number): Open {
    const index = this.done.length;
    const path = join(this.dir, chunkFileName(index));
    const tmp = `${path}.tmp`;
    const out = createWriteStream(tmp);
    const c: Open = {
      index,
      path,
      tmp,
      out,
      hash: createHash('sha256'),
      lines: 0,
      bytes: 0,
      firstLine: sourceLine,
      lastLine: sourceLine,
      tokens: 0,
      error: null,
    };
    out.on('error', (e) => {
      c.error = e;
    });
    this.open = c;
    return c;
  }

  private async closeCurrent(): Promise<void> {
    const c = this.open;
    if (!c) return;
    this.open = null;
    c.out.end();
    if (!c.out.writableFinished) await once(c.out, 'finish');
    if (c.error) throw c.error;
    await rename(c.tmp, c.path);
    this.done.push({
      index: c.index,
      path: c.path,
      lines: c.lines,
      bytes: c.bytes,
      sha256: c.hash.digest('hex'),
      firstLine: c.firstLine,
      lastLine: c.lastLine,
      ...(this.counted ? { tokens: c.tokens } : {}),
    });
  }
}

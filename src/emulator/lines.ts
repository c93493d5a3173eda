import { createReadStream } from 'node:fs';

export interface Line {
  /** 1-based. */
  lineNo: number;
  /** The line without its newline; null when it is longer than maxLineBytes (its bytes were dropped). */
  text: string | null;
  bytes: number;
}

/**
 * Reads a file line by line with bounded memory: a line longer than maxLineBytes is counted but never
 * assembled, so a file without newlines cannot blow up the process.
 */
export async function* readLines(path: string, maxLineBytes: number): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  let lineNo = 0;
  const finish = (): Line => {
    lineNo += 1;
    let text: string | null = null;
    if (!tooLong) {
      const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
      const end = size > 0 && buf[size - 1] === 13 ? size - 1 : size;
      text = buf.toString('utf8', 0, end);
    }
    const line = { lineNo, text, bytes: size };
    parts = [];
    size = 0;
    tooLong = false;
    return line;
  };
  const add = (chunk: Buffer): void => {
    size += chunk.length;
    if (tooLong) return;
    if (size > maxLineBytes) {
      tooLong = true;
      parts = [];
      return;
    }
    parts.push(chunk);
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      add(chunk.subarray(start, nl));
      yield finish();
      start = nl + 1;
    }
    // Copy the tail: keeping a subarray would pin the whole 256 KB chunk per pending line.
    if (start < chunk.length) add(Buffer.from(chunk.subarray(start)));
  }
  if (size > 0 || tooLong) yield finish();
}

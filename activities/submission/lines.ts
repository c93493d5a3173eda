import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';

export interface Line {
  /** 1-based. */
  lineNo: number;
  /** Without its newline (and a trailing CR); null when longer than maxLineBytes: such a line is never assembled. */
  text: string | null;
  /** Bytes of the line without its newline. */
  bytes: number;
  /**
   * The bytes are not valid UTF-8: `text` then holds U+FFFD in their place, which is not what the file says.
   * Input validation refuses such a line (the altered prompt would be billed); result readers may still count it.
   */
  invalidUtf8: boolean;
}

/**
 * Reads a file line by line with bounded memory. Not `readline`: it would assemble a line of any length
 * (a 500 MB file without newlines is one line) and hides byte counts, which the size limits are about.
 */
export async function* readLines(
  path: string,
  maxLineBytes: number,
  onChunk?: (bytesRead: number) => void,
): AsyncGenerator<Line> {
  const pending: Line[] = [];
  const splitter = new LineSplitter(maxLineBytes, (l) => pending.push(l));
  let bytesRead = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    onChunk?.(bytesRead);
    splitter.push(chunk);
    // At most one 256 KB chunk's worth of lines is pending at a time.
    for (const l of pending.splice(0)) yield l;
  }
  splitter.end();
  for (const l of pending.splice(0)) yield l;
}

/**
 * Splits a byte stream into lines for a callback, with the same bounds as readLines; for data that is
 * being piped elsewhere (a download), where a generator cannot sit in the middle.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private tooLong = false;
  private lineNo = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: Line) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      this.add(chunk.subarray(start, nl));
      this.finish();
      start = nl + 1;
    }
    if (start < chunk.length) this.add(Buffer.from(chunk.subarray(start)));
  }

  end(): void {
    if (this.size > 0 || this.tooLong) this.finish();
  }

  private add(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.tooLong) return;
    if (this.size > this.maxLineBytes) {
      this.tooLong = true;
      this.parts = [];
      return;
    }
    this.parts.push(chunk);
  }

  private finish(): void {
    this.lineNo += 1;
    let text: string | null = null;
    let invalidUtf8 = false;
    if (!this.tooLong) {
      const buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
      const end = this.size > 0 && buf[this.size - 1] === 13 ? this.size - 1 : this.size;
      // Checked on the whole line: a character split across two read chunks is still one valid character.
      invalidUtf8 = !isUtf8(buf.subarray(0, end));
      text = buf.toString('utf8', 0, end);
    }
    const line = { lineNo: this.lineNo, text, bytes: this.size, invalidUtf8 };
    this.parts = [];
    this.size = 0;
    this.tooLong = false;
    this.onLine(line);
  }
}

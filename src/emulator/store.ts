import { randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchRec, FileRec } from './types';

export const newId = (prefix: string): string => `${prefix}${randomBytes(12).toString('hex')}`;

/**
 * File metadata in memory, contents on disk under dataDir. Paths are derived from ids, which are
 * generated here, so a request can never address a path outside dataDir.
 */
export class FileStore {
  private readonly files = new Map<string, FileRec>();
  private seq = 0;

  constructor(readonly dir: string) {}

  pathFor(id: string): string {
    return join(this.dir, `${id}.jsonl`);
  }

  async register(id: string, filename: string, purpose: string, createdAt: number): Promise<FileRec> {
    const path = this.pathFor(id);
    const { size } = await stat(path);
    const rec: FileRec = { id, bytes: size, createdAt, filename, purpose, path, seq: this.seq++ };
    this.files.set(id, rec);
    return rec;
  }

  get(id: string): FileRec | undefined {
    return this.files.get(id);
  }

  /** Newest first, like the providers list. */
  list(): FileRec[] {
    return [...this.files.values()].sort((a, b) => b.seq - a.seq);
  }

  /** Forgets the file; its bytes stay on disk while `inUse` says a running batch still reads them. */
  async delete(id: string, inUse: boolean): Promise<boolean> {
    const rec = this.files.get(id);
    if (!rec) return false;
    this.files.delete(id);
    if (!inUse) await rm(rec.path, { force: true });
    return true;
  }
}

export class BatchStore {
  private readonly batches = new Map<string, BatchRec>();
  private seq = 0;

  nextSeq(): number {
    return this.seq++;
  }

  add(rec: BatchRec): void {
    this.batches.set(rec.id, rec);
  }

  get(id: string): BatchRec | undefined {
    return this.batches.get(id);
  }

  /** Newest first. */
  list(): BatchRec[] {
    return [...this.batches.values()].sort((a, b) => b.seq - a.seq);
  }

  all(): IterableIterator<BatchRec> {
    return this.batches.values();
  }
}

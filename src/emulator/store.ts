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
  /** In creation order, so seq ascending: a list page is a slice from the end, not a sort of every batch. */
  private readonly order: BatchRec[] = [];
  private seq = 0;

  nextSeq(): number {
    return this.seq++;
  }

  add(rec: BatchRec): void {
    this.batches.set(rec.id, rec);
    // Records come with nextSeq() in creation order; a record added out of order is put in its place.
    let i = this.order.length;
    while (i > 0 && this.order[i - 1].seq > rec.seq) i--;
    this.order.splice(i, 0, rec);
  }

  get(id: string): BatchRec | undefined {
    return this.batches.get(id);
  }

  /** Newest first. */
  list(): BatchRec[] {
    return [...this.order].reverse();
  }

  /** Newest first, starting below `beforeSeq` when given: what a list page walks (10,000 batches stay cheap). */
  *newestFirst(beforeSeq?: number): Generator<BatchRec> {
    let hi = this.order.length;
    if (beforeSeq !== undefined) {
      // First index whose seq is >= beforeSeq.
      let lo = 0;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.order[mid].seq < beforeSeq) lo = mid + 1;
        else hi = mid;
      }
    }
    for (let i = hi - 1; i >= 0; i--) yield this.order[i];
  }

  all(): IterableIterator<BatchRec> {
    return this.batches.values();
  }
}

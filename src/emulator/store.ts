import { randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { StateDir } from './persist';
import type { BatchRec, FileRec } from './types';

export const newId = (prefix: string): string => `${prefix}${randomBytes(12).toString('hex')}`;

/**
 * File metadata in memory, contents on disk under dataDir. Paths are derived from ids, which are
 * generated here, so a request can never address a path outside dataDir. With a state dir every record is
 * also on disk, so a restarted emulator still has it.
 */
export class FileStore {
  private readonly files = new Map<string, FileRec>();
  /** Deleted files: no longer listed or served, kept so tests can tell what was served and removed. */
  private readonly gone = new Map<string, FileRec>();
  private seq = 0;

  constructor(
    readonly dir: string,
    private readonly state?: StateDir,
  ) {}

  pathFor(id: string): string {
    return join(this.dir, `${id}.jsonl`);
  }

  /** Records found in the state dir at start. */
  restore(recs: FileRec[]): void {
    for (const rec of recs) {
      (rec.deletedAt === undefined ? this.files : this.gone).set(rec.id, rec);
      this.seq = Math.max(this.seq, rec.seq + 1);
    }
  }

  async register(
    id: string,
    filename: string,
    purpose: string,
    createdAt: number,
    sha256?: string,
  ): Promise<FileRec> {
    const path = this.pathFor(id);
    const { size } = await stat(path);
    const rec: FileRec = { id, bytes: size, createdAt, filename, purpose, path, seq: this.seq++ };
    if (sha256 !== undefined) rec.sha256 = sha256;
    await this.state?.saveFile(rec);
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

  /** Every file ever registered, deleted ones included (with `deletedAt`), oldest first. */
  history(): FileRec[] {
    return [...this.files.values(), ...this.gone.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Forgets the file; its bytes stay on disk while `inUse` says a running batch still reads them. */
  async delete(id: string, inUse: boolean, at: number): Promise<boolean> {
    const rec = this.files.get(id);
    if (!rec) return false;
    const tomb = { ...rec, deletedAt: at };
    await this.state?.saveFile(tomb);
    this.files.delete(id);
    this.gone.set(id, tomb);
    if (!inUse) await rm(rec.path, { force: true });
    return true;
  }
}

export class BatchStore {
  private readonly batches = new Map<string, BatchRec>();
  /** In creation order, so seq ascending: a list page is a slice from the end, not a sort of every batch. */
  private readonly order: BatchRec[] = [];
  private seq = 0;

  constructor(private readonly state?: StateDir) {}

  nextSeq(): number {
    return this.seq++;
  }

  add(rec: BatchRec): void {
    this.batches.set(rec.id, rec);
    this.seq = Math.max(this.seq, rec.seq + 1);
    // Records come with nextSeq() in creation order; a record added out of order is put in its place.
    let i = this.order.length;
    while (i > 0 && this.order[i - 1].seq > rec.seq) i--;
    this.order.splice(i, 0, rec);
  }

  /** Writes the record (with `patch` applied) to the state dir, if there is one; a no-op otherwise. */
  async save(rec: BatchRec, patch: Partial<BatchRec> = {}): Promise<void> {
    await this.state?.saveBatch({ ...rec, ...patch });
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

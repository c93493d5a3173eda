import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchRec, FileRec, FinalRecord, Timing, ValidationResult } from './types';

/**
 * The emulator's records on disk beside the file contents (`<dataDir>/state/`), so an emulator started again
 * on the same dataDir has the same files, batches and clock, like a provider that restarted. Each record is
 * its own small JSON file, written whole (temp + rename) before the call that changed it answers: a restart,
 * even a kill, never loses what a client was told.
 */
export class StateDir {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  private get filesDir(): string {
    return join(this.dir, 'state', 'files');
  }

  private get batchesDir(): string {
    return join(this.dir, 'state', 'batches');
  }

  private get clockPath(): string {
    return join(this.dir, 'state', 'clock.json');
  }

  async init(): Promise<void> {
    await mkdir(this.filesDir, { recursive: true });
    await mkdir(this.batchesDir, { recursive: true });
  }

  saveFile(rec: FileRec): Promise<void> {
    const { path: _path, ...stored } = rec;
    return this.write(join(this.filesDir, `${rec.id}.json`), stored);
  }

  saveBatch(rec: BatchRec): Promise<void> {
    return this.write(join(this.batchesDir, `${rec.id}.json`), storedBatch(rec));
  }

  saveClock(c: StoredClock): Promise<void> {
    return this.write(this.clockPath, c);
  }

  async loadClock(): Promise<StoredClock | null> {
    try {
      return JSON.parse(await readFile(this.clockPath, 'utf8')) as StoredClock;
    } catch {
      return null;
    }
  }

  async loadFiles(pathFor: (id: string) => string): Promise<FileRec[]> {
    return (await this.readAll<Omit<FileRec, 'path'>>(this.filesDir)).map((f) => ({
      ...f,
      path: pathFor(f.id),
    }));
  }

  async loadBatches(pathFor: (id: string) => string): Promise<BatchRec[]> {
    return (await this.readAll<StoredBatch>(this.batchesDir)).map((b) => restoredBatch(b, pathFor));
  }

  /** Writes of one record happen in call order: a slow older write can never land after a newer one. */
  private write(path: string, value: unknown): Promise<void> {
    const text = `${JSON.stringify(value)}\n`;
    const prev = this.chains.get(path) ?? Promise.resolve();
    const next = prev.then(async () => {
      const tmp = `${path}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, path);
    });
    const settled = next.catch(() => undefined);
    this.chains.set(path, settled);
    void settled.then(() => {
      if (this.chains.get(path) === settled) this.chains.delete(path);
    });
    return next;
  }

  private async readAll<T>(dir: string): Promise<T[]> {
    const out: T[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) {
        // A temp file of a write the last process did not finish: the record before it stands.
        if (name.endsWith('.tmp')) await rm(join(dir, name), { force: true });
        continue;
      }
      out.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as T);
    }
    return out;
  }
}

export interface StoredClock {
  /** Emulator time (unix seconds) at `wallMs`, and the real clock's speed then. */
  now: number;
  wallMs: number;
  kind: 'real' | 'manual';
  speed: number;
}

/** Where a restarted clock resumes: a real clock as if it had never stopped, a manual one where it was. */
export function resumedNow(c: StoredClock, wallMs = Date.now()): number {
  return c.kind === 'manual' ? c.now : c.now + ((wallMs - c.wallMs) / 1000) * c.speed;
}

type StoredValidation =
  | {
      ok: true;
      total: number;
      model: string | null;
      cumFailed: string;
      cumIn: string;
      cumOut: string;
      /** Absent in state written before the enqueued-token limit: 0. */
      enqueuedTokens?: number;
    }
  | Extract<ValidationResult, { ok: false }>;

interface StoredBatch {
  id: string;
  seq: number;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  createdAt: number;
  expiresAt: number;
  timing: Timing;
  failureRate: number;
  validated?: StoredValidation;
  cancelRequestedAt?: number;
  final?: FinalRecord;
  internalError?: { message: string; at: number };
  /** The enqueued-token limit's decision, once made (token-limit.ts). */
  admission?: BatchRec['admission'];
}

const b64 = (a: ArrayBufferView): string =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

function fromB64<T>(s: string, make: (buf: ArrayBuffer) => T): T {
  const b = Buffer.from(s, 'base64');
  // A copy: the typed array needs its own aligned buffer.
  return make(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function storedBatch(rec: BatchRec): StoredBatch {
  const v = rec.validated;
  return {
    id: rec.id,
    seq: rec.seq,
    endpoint: rec.endpoint,
    inputFileId: rec.inputFileId,
    completionWindow: rec.completionWindow,
    metadata: rec.metadata,
    createdAt: rec.createdAt,
    expiresAt: rec.expiresAt,
    timing: rec.timing,
    failureRate: rec.failureRate,
    ...(v
      ? {
          validated: v.ok
            ? {
                ok: true as const,
                total: v.total,
                model: v.model,
                cumFailed: b64(v.cumFailed),
                cumIn: b64(v.cumIn),
                cumOut: b64(v.cumOut),
                enqueuedTokens: v.enqueuedTokens,
              }
            : v,
        }
      : {}),
    ...(rec.cancelRequestedAt !== undefined ? { cancelRequestedAt: rec.cancelRequestedAt } : {}),
    ...(rec.final ? { final: rec.final } : {}),
    ...(rec.internalError ? { internalError: rec.internalError } : {}),
    ...(rec.admission ? { admission: rec.admission } : {}),
  };
}

function restoredBatch(s: StoredBatch, pathFor: (id: string) => string): BatchRec {
  const v = s.validated;
  const validated: ValidationResult | undefined =
    v === undefined
      ? undefined
      : v.ok
        ? {
            ok: true,
            total: v.total,
            model: v.model,
            cumFailed: fromB64(v.cumFailed, (b) => new Uint32Array(b)),
            cumIn: fromB64(v.cumIn, (b) => new Float64Array(b)),
            cumOut: fromB64(v.cumOut, (b) => new Float64Array(b)),
            enqueuedTokens: v.enqueuedTokens ?? 0,
          }
        : v;
  return {
    id: s.id,
    seq: s.seq,
    endpoint: s.endpoint,
    inputFileId: s.inputFileId,
    inputPath: pathFor(s.inputFileId),
    completionWindow: s.completionWindow,
    metadata: s.metadata,
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    timing: s.timing,
    failureRate: s.failureRate,
    // A batch restored before its validation was recorded is validated again by the caller.
    validation: Promise.resolve(validated ?? { ok: false, errors: [] }),
    validated,
    cancelRequestedAt: s.cancelRequestedAt,
    final: s.final,
    internalError: s.internalError,
    // Undecided (or decided but not written yet): decided again, in the same order, when asked.
    admission: s.admission,
  };
}

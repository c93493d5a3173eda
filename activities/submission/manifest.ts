import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TokenUsage } from '../../workflows/contract';
import { beat } from './progress';
import type { ResultFileKind, ResultSummary } from './types';

export const MANIFEST = 'manifest.json';
export const FILE_NAMES: Record<ResultFileKind, string> = { output: 'output.jsonl', error: 'errors.jsonl' };

export interface ManifestFile {
  kind: ResultFileKind;
  fileId: string;
  /** Relative to the batch directory, so the store can be moved. */
  name: string;
  bytes: number;
  lines: number;
  sha256: string;
}

export interface Manifest {
  version: 1;
  provider: string;
  batchId: string;
  /** ISO time the downloads completed. */
  writtenAt: string;
  inputPath: string | null;
  files: ManifestFile[];
  summary: ResultSummary;
  tokens: TokenUsage;
}

export async function readManifest(dir: string): Promise<Manifest | null> {
  try {
    const m = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
    return m && m.version === 1 && Array.isArray(m.files) ? m : null;
  } catch {
    return null;
  }
}

/** Temp name then rename: a reader sees the old manifest or the new one, never half of one. */
export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  const tmp = join(dir, `${MANIFEST}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(m, null, 2)}\n`);
  await rename(tmp, join(dir, MANIFEST));
}

export async function sha256File(path: string): Promise<{ sha256: string; bytes: number } | null> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const c of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      hash.update(c);
      bytes += c.length;
      beat({ phase: 'verify', path, bytesRead: bytes });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Re-hashes every file of the manifest; the mismatches say what differs (empty when all verify). */
export async function verifyManifest(dir: string, m: Manifest): Promise<string[]> {
  const mismatches: string[] = [];
  for (const f of m.files) {
    const got = await sha256File(join(dir, f.name));
    if (!got) mismatches.push(`${f.name}: missing`);
    else if (got.bytes !== f.bytes)
      mismatches.push(`${f.name}: ${got.bytes} bytes, manifest says ${f.bytes}`);
    else if (got.sha256 !== f.sha256)
      mismatches.push(`${f.name}: sha256 ${got.sha256}, manifest says ${f.sha256}`);
  }
  return mismatches;
}

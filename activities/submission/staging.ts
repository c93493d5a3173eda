import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';

/** A directory name for an id (workflow ids may hold '/', spaces...): readable prefix plus a hash against collisions. */
export function safeName(id: string): string {
  const readable = id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80);
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 10);
  return `${readable}-${hash}`;
}

export function stagingDirFor(stagingDir: string, submissionId: string): string {
  return resolve(join(stagingDir, safeName(submissionId)));
}

/** Batch ids are provider-made (`batch_...`): refuse anything that could leave the results directory. */
export function resultsDirFor(resultsDir: string, batchId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/.test(batchId))
    throw new Error(`unusable batch id for a directory: '${batchId}'`);
  return resolve(join(resultsDir, batchId));
}

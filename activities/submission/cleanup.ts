import { log } from '@temporalio/activity';
import { crashPoint } from '../crash-points';
import { asApiError, classifyProviderError } from '../errors';
import type { ProviderRegistry } from '../providers';
import { readManifest, verifyManifest } from './manifest';
import { resultsDirFor } from './staging';
import type { CleanupRemoteFilesInput, CleanupRemoteFilesResult } from './types';

export interface CleanupDeps {
  providers: ProviderRegistry;
  resultsDir: string;
}

/**
 * Deletes the batch's files at the provider, but only once the local copies re-hash to the manifest's
 * checksums: the provider's copy is the only other one. Nothing is deleted when anything fails to verify.
 * Idempotent: a file already gone (404) counts as deleted, so a retry finishes the job.
 */
export async function cleanupRemoteFiles(
  deps: CleanupDeps,
  input: CleanupRemoteFilesInput,
): Promise<CleanupRemoteFilesResult> {
  const dir = resultsDirFor(deps.resultsDir, input.batchId);
  const manifest = await readManifest(dir);
  if (!manifest)
    return {
      verified: false,
      deleted: [],
      mismatches: [`no manifest in ${dir}: download the results first`],
    };
  if (manifest.batchId !== input.batchId || manifest.provider !== input.provider)
    return {
      verified: false,
      deleted: [],
      mismatches: ['the manifest belongs to another batch or provider'],
    };
  const mismatches = await verifyManifest(dir, manifest);
  if (mismatches.length > 0) {
    log.warn('results do not verify; remote files kept', { batchId: input.batchId, mismatches });
    return { verified: false, deleted: [], mismatches: mismatches.slice(0, 10) };
  }
  const ids = [...manifest.files.map((f) => f.fileId), ...(input.inputFileId ? [input.inputFileId] : [])];
  const client = deps.providers.client(input.provider);
  const deleted: string[] = [];
  for (const id of ids) {
    try {
      await client.files.delete(id);
    } catch (err) {
      if (asApiError(err)?.status !== 404)
        throw classifyProviderError(err, {
          provider: input.provider,
          operation: `delete file ${id} of`,
          batchId: input.batchId,
        });
    }
    deleted.push(id);
  }
  crashPoint('after-cleanup');
  log.info('remote batch files deleted', { batchId: input.batchId, deleted });
  return { verified: true, deleted, mismatches: [] };
}

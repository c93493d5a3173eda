// A terminal batch's results: downloaded and verified on the worker, then (by the clean-up rule) deleted at the
// provider.
import { isCancellation, patched, proxyActivities } from '@temporalio/workflow';
import type { BatchSnapshot, BatchWorkflowInput, ResultsRecord } from '../contract';
import { FILE_OPTIONS } from '../shared/activity-options';
import type { BatchActivities, BatchRef } from '../shared/activity-types';

/** Patch id: runs started before it delete what they always did (see cleanupPlan). */
const PATCH_CLEANUP_OWN_FILES_ONLY = 'cleanup-own-files-only';

const { downloadResults, cleanupRemoteFiles } = proxyActivities<BatchActivities>(FILE_OPTIONS);

export interface FetchedResults {
  results: ResultsRecord | null;
  /** Why there are no results: billing does not wait on results the provider will not give. */
  resultsError: string | null;
}

/** Nothing to fetch (turned off, or no files) gives neither results nor an error. */
export async function fetchResults(
  input: BatchWorkflowInput,
  ref: BatchRef,
  snapshot: BatchSnapshot,
): Promise<FetchedResults> {
  if (input.results?.download === false || (!snapshot.outputFileId && !snapshot.errorFileId)) {
    return { results: null, resultsError: null };
  }
  try {
    const downloaded = await downloadResults.executeWithOptions(
      { ...FILE_OPTIONS, summary: `download results of ${ref.batchId}` },
      [
        {
          provider: ref.provider,
          batchId: ref.batchId,
          outputFileId: snapshot.outputFileId,
          errorFileId: snapshot.errorFileId,
          inputPath: input.parent?.inputPath ?? undefined,
        },
      ],
    );
    let remoteFilesDeleted: string[] = [];
    let remoteCleanup: ResultsRecord['remoteCleanup'];
    const plan = patched(PATCH_CLEANUP_OWN_FILES_ONLY)
      ? cleanupPlan(input, snapshot)
      : // Runs started before the rule: they delete what they always did.
        { run: input.results?.cleanupRemote !== false, inputFileId: snapshot.inputFileId, reason: null };
    if (plan.run) {
      // Only after the stored results re-verify: the provider's copy is the last one otherwise.
      const cleaned = await cleanupRemoteFiles.executeWithOptions(
        { ...FILE_OPTIONS, summary: `delete provider files of ${ref.batchId}` },
        [{ provider: ref.provider, batchId: ref.batchId, inputFileId: plan.inputFileId }],
      );
      remoteFilesDeleted = cleaned.verified ? cleaned.deleted : [];
      if (plan.reason !== null) {
        remoteCleanup = cleaned.verified
          ? { deleted: cleaned.deleted, reason: plan.reason }
          : {
              deleted: [],
              reason: `kept: the stored results did not verify (${cleaned.mismatches.slice(0, 3).join('; ')})`,
            };
      }
    } else if (plan.reason !== null) {
      remoteCleanup = { deleted: [], reason: plan.reason };
    }
    const { summary } = downloaded;
    const results: ResultsRecord = {
      dir: downloaded.dir,
      files: downloaded.files,
      summary: {
        succeeded: summary.succeeded,
        failed: summary.failed,
        failedByCode: summary.failedByCode,
        notRun: summary.notRun,
        notRunByCode: summary.notRunByCode,
      },
      remoteFilesDeleted,
      ...(remoteCleanup ? { remoteCleanup } : {}),
      tokens: downloaded.tokens,
    };
    return { results, resultsError: null };
  } catch (err) {
    if (isCancellation(err)) throw err;
    // A non-retryable failure (the provider will not give the files): recorded, and billing goes on without it.
    const resultsError =
      err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    return { results: null, resultsError };
  }
}

interface CleanupPlan {
  run: boolean;
  inputFileId: string | null;
  /** Why the provider's files are (or are not) deleted: part of the results record. */
  reason: string | null;
}

/**
 * Destroy nothing batchkeeper did not create: by default only a batch it created (a submission's child) has its
 * output and error files deleted, and its input file only when batchkeeper uploaded it. A tracked batch (created
 * by another service) keeps every file unless the caller opted in.
 */
function cleanupPlan(input: BatchWorkflowInput, snapshot: BatchSnapshot): CleanupPlan {
  const option = input.results?.cleanupRemote;
  if (option === false)
    return {
      run: false,
      inputFileId: null,
      reason: 'kept: remote clean-up turned off (cleanupRemote: false)',
    };
  if (option === true) {
    return {
      run: true,
      inputFileId: snapshot.inputFileId,
      reason: 'deleted on request (cleanupRemote: true): output, error and input files',
    };
  }
  if (!input.parent) {
    return {
      run: false,
      inputFileId: null,
      reason:
        'kept: a tracked batch (not created by batchkeeper) keeps its provider files; opt in with cleanupRemote: true (--cleanup-remote)',
    };
  }
  const ownInput = input.parent.inputUploaded === true;
  return {
    run: true,
    inputFileId: ownInput ? snapshot.inputFileId : null,
    reason: ownInput
      ? 'created by batchkeeper (submit): output, error and the input file it uploaded deleted'
      : 'created by batchkeeper (submit) from a file it did not upload: output and error files deleted, input kept',
  };
}

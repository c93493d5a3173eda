import type { ProviderRegistry } from '../providers';
import { cleanupRemoteFiles } from './cleanup';
import { createBatch } from './create';
import { downloadResults } from './download';
import { buildResubmission } from './resubmit';
import type { SubmissionActivities } from './types';
import { validateSubmission } from './validate';

export interface SubmissionDeps {
  providers: ProviderRegistry;
  /** Results store: `<resultsDir>/<batchId>/` (default ./.data/results, set by the worker). */
  resultsDir: string;
  /** Normalized staging chunks: `<stagingDir>/<submission>/chunk-NNN.jsonl`. */
  stagingDir: string;
}

export const DEFAULT_RESULTS_DIR = './.data/results';
export const DEFAULT_STAGING_DIR = './.data/staging';

/** The submission activities, registered next to createActivities(...) on the worker. */
export function createSubmissionActivities(deps: SubmissionDeps): SubmissionActivities {
  return {
    validateSubmission: (input) => validateSubmission(deps, input),
    createBatch: (input) => createBatch(deps.providers, input),
    downloadResults: (input) => downloadResults(deps, input),
    cleanupRemoteFiles: (input) => cleanupRemoteFiles(deps, input),
    buildResubmission: (input) => buildResubmission(deps, input),
  };
}

export type * from './types';
export { SubmissionErrorTypes } from './failures';
export { limitsFor } from './limits';

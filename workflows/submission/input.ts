// A submission's input, checked before anything reads it: a bad one fails the workflow, not its tasks (which
// would retry forever). Shapes and types only; what a provider accepts the validation activity checks.
import type { SubmitWorkflowInput } from '../contract';
import { InvalidPollPolicyError, resolvePollPolicy } from '../shared/poll-policy';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/**
 * Shapes and types only; what a provider accepts (endpoint, window, metadata and limit values) the validation
 * activity checks, with every problem by line.
 */
export function inputProblems(input: SubmitWorkflowInput): string[] {
  if (!isObject(input)) return ['input must be an object'];
  const problems: string[] = [];
  if (!nonEmptyString(input.provider))
    problems.push('provider must name a provider profile configured on the worker');
  const submission: unknown = input.submission;
  if (!isObject(submission)) {
    problems.push('submission must be an object with source and endpoint');
  } else {
    const source = submission.source;
    if (source === undefined || source === null) {
      problems.push('submission.source is required: {"path": ...} or {"fileId": ...}');
    } else if (!isObject(source) || !(nonEmptyString(source.path) || nonEmptyString(source.fileId))) {
      problems.push('submission.source must be {"path": non-empty string} or {"fileId": non-empty string}');
    }
    if (!nonEmptyString(submission.endpoint)) problems.push('submission.endpoint must be a non-empty string');
    for (const key of ['completionWindow', 'defaultModel'] as const) {
      if (submission[key] !== undefined && typeof submission[key] !== 'string')
        problems.push(`submission.${key} must be a string`);
    }
    const metadata = submission.metadata;
    if (
      metadata !== undefined &&
      (!isObject(metadata) || Object.values(metadata).some((v) => typeof v !== 'string'))
    ) {
      problems.push('submission.metadata must be an object of strings');
    }
    if (submission.limits !== undefined && !isObject(submission.limits))
      problems.push('submission.limits must be an object');
  }
  const resubmit: unknown = input.resubmit;
  if (resubmit !== undefined) {
    if (!isObject(resubmit)) problems.push('resubmit must be an object');
    else {
      if (resubmit.rounds !== undefined && !(typeof resubmit.rounds === 'number' && resubmit.rounds >= 0))
        problems.push('resubmit.rounds must be a number >= 0');
      if (resubmit.mode !== undefined && resubmit.mode !== 'unsuccessful' && resubmit.mode !== 'retryable')
        problems.push("resubmit.mode must be 'unsuccessful' or 'retryable'");
    }
  }
  // Checked here as each batch workflow would check it: after the batches are created (and paid for) is too late.
  if (input.pollPolicy !== undefined) {
    if (!isObject(input.pollPolicy)) problems.push('pollPolicy must be an object');
    else {
      try {
        resolvePollPolicy(input.pollPolicy);
      } catch (err) {
        if (!(err instanceof InvalidPollPolicyError)) throw err;
        problems.push(err.message.replace(/^Invalid poll policy: /, 'pollPolicy: '));
      }
    }
  }
  if (input.results !== undefined && !isObject(input.results)) problems.push('results must be an object');
  if (input.searchAttributes !== undefined && typeof input.searchAttributes !== 'boolean')
    problems.push('searchAttributes must be a boolean');
  const can: unknown = input.continueAsNewAfterEvents;
  if (can !== undefined && !(typeof can === 'number' && Number.isInteger(can) && can > 0))
    problems.push('continueAsNewAfterEvents must be a positive integer');
  return problems;
}

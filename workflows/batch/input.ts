// A batch workflow's input, checked before anything uses it: bad input fails the workflow (not its tasks, which
// would retry forever), with every problem named.
import { ApplicationFailure } from '@temporalio/workflow';
import type { BatchWorkflowInput, PollPolicy } from '../contract';
import type { BatchRef } from '../shared/activity-types';
import { InvalidPollPolicyError, resolvePollPolicy } from '../shared/poll-policy';

export function validateInput(input: BatchWorkflowInput): BatchRef {
  const problems: string[] = [];
  if (!input || typeof input !== 'object')
    throw ApplicationFailure.nonRetryable('Input must be an object', 'InvalidInput');
  if (typeof input.batchId !== 'string' || input.batchId.trim() === '')
    problems.push('batchId must be a non-empty string');
  if (typeof input.provider !== 'string' || input.provider.trim() === '') {
    problems.push('provider must name a provider profile configured on the worker');
  }
  if (problems.length > 0)
    throw ApplicationFailure.nonRetryable(`Invalid input: ${problems.join('; ')}`, 'InvalidInput');
  return { batchId: input.batchId, provider: input.provider };
}

export function policyOrFail(input: BatchWorkflowInput): PollPolicy {
  try {
    return resolvePollPolicy(input.pollPolicy);
  } catch (err) {
    if (err instanceof InvalidPollPolicyError)
      throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
    throw err;
  }
}

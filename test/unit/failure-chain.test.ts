// The messages the CLI prints for an error: Temporal's wrappers unwrapped down to the root cause, nothing more.
import { WorkflowFailedError } from '@temporalio/client';
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  RetryState,
  TerminatedFailure,
} from '@temporalio/common';
import { BatchWorkflowEndedError, TemporalConnectError, failureChain } from '../../src/client/errors';
import { errorLine } from '../../src/cli/output';

const ROOT = "retrieve batch batch_1 on provider 'emu' was refused (401): Incorrect API key provided.";
const activityFailure = (type: string, cause: Error) =>
  new ActivityFailure('Activity task failed', type, '1', RetryState.NON_RETRYABLE_FAILURE, 'worker-1', cause);
const workflowFailed = (cause: Error) =>
  new WorkflowFailedError('Workflow execution failed', cause, RetryState.NON_RETRYABLE_FAILURE);

test("a workflow that failed in an activity: Temporal's message, then the activity type and its message", () => {
  const err = workflowFailed(activityFailure('retrieveBatch', ApplicationFailure.nonRetryable(ROOT)));
  expect(failureChain(err)).toEqual(['Workflow execution failed', `retrieveBatch: ${ROOT}`]);
  expect(errorLine(err)).toBe(`batchkeeper: Workflow execution failed: retrieveBatch: ${ROOT}\n`);
});

test('a message that already names the activity type is not prefixed again', () => {
  const err = workflowFailed(
    activityFailure('createBatch', ApplicationFailure.nonRetryable('createBatch: gone')),
  );
  expect(failureChain(err)).toEqual(['Workflow execution failed', 'createBatch: gone']);
});

test("the library's BatchWorkflowEndedError: its own line, then the root cause, without repeating the ending", () => {
  const wf = workflowFailed(activityFailure('retrieveBatch', ApplicationFailure.nonRetryable(ROOT)));
  const err = new BatchWorkflowEndedError(
    'batch_1',
    'batch-batch_1',
    'failed',
    null,
    'Activity task failed',
    {
      cause: wf,
    },
  );
  const chain = failureChain(err);
  expect(chain).toEqual([err.message, `retrieveBatch: ${ROOT}`]);
  expect(chain.join(': ')).not.toContain('Workflow execution failed');
});

test('a failed child workflow is named, and its own cause follows', () => {
  const child = new ChildWorkflowFailure(
    'default',
    { workflowId: 'batch-batch_2', runId: 'r' },
    'batchLifecycle',
    RetryState.NON_RETRYABLE_FAILURE,
    new TerminatedFailure('terminated by ops'),
  );
  expect(failureChain(workflowFailed(child))).toEqual([
    'Workflow execution failed',
    'child workflow batch-batch_2 (batchLifecycle) failed',
    'terminated by ops',
  ]);
});

test("other errors' causes stay out: a connection error's cause may carry credentials", () => {
  const err = new TemporalConnectError('cannot reach Temporal at h:7233', 'h:7233', 'default', {
    cause: new Error('handshake with api key tmprl-secret-value failed'),
  });
  expect(failureChain(err)).toEqual(['cannot reach Temporal at h:7233']);
  expect(errorLine(err)).not.toContain('tmprl-secret-value');
});

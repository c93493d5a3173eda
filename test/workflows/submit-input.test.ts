// A submission with bad input fails at once with every problem, before any activity (no upload, no cost).
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { submitBatch } from '../../workflows';
import { submitWorkflowId, type SubmitWorkflowInput } from '../../workflows/contract';
import type { WorkerActivities } from '../../workflows/shared/activity-types';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();

/** Activities that record being called: none may be, whatever the input. */
const calls: string[] = [];
const names: (keyof WorkerActivities)[] = [
  'validateSubmission',
  'createBatch',
  'downloadResults',
  'cleanupRemoteFiles',
  'buildResubmission',
  'retrieveBatch',
  'cancelBatch',
  'recordOutcome',
];
const untouchable = Object.fromEntries(
  names.map((name) => [
    name,
    async () => {
      calls.push(name);
      throw new Error(`activity ${name} must not run for bad input`);
    },
  ]),
) as unknown as WorkerActivities;

const source = { path: '/data/requests.jsonl' };
const endpoint = '/v1/chat/completions';

const cases: [string, unknown, string[]][] = [
  ['no input at all', null, ['input must be an object']],
  ['submission: null', { provider: 'openai', submission: null }, ['submission must be an object']],
  [
    'provider: 5',
    { provider: 5, submission: { source, endpoint } },
    ['provider must name a provider profile configured on the worker'],
  ],
  ['no source', { provider: 'openai', submission: { endpoint } }, ['submission.source is required']],
  [
    'source of the wrong shape',
    { provider: 'openai', submission: { source: { path: 5 }, endpoint } },
    ['submission.source must be {"path": non-empty string} or {"fileId": non-empty string}'],
  ],
  [
    'several problems at once',
    { provider: '', submission: { source: { fileId: '' }, endpoint: 7, metadata: { team: 1 } } },
    [
      'provider must name',
      'submission.source must be',
      'submission.endpoint must be a non-empty string',
      'submission.metadata must be an object of strings',
    ],
  ],
  [
    'a poll policy every batch workflow would refuse',
    { provider: 'openai', submission: { source, endpoint }, pollPolicy: { maxIntervalSeconds: -5 } },
    ['pollPolicy: maxIntervalSeconds must be a positive number'],
  ],
  [
    'resubmit and test options of the wrong type',
    {
      provider: 'openai',
      submission: { source, endpoint },
      resubmit: { rounds: 'two', mode: 'all' },
      continueAsNewAfterEvents: 0,
    },
    [
      'resubmit.rounds must be a number >= 0',
      "resubmit.mode must be 'unsuccessful' or 'retryable'",
      'continueAsNewAfterEvents must be a positive integer',
    ],
  ],
];

test.each(cases)(
  '%s: the workflow fails with a non-retryable InvalidInput naming each problem',
  async (name, input, problems) => {
    calls.length = 0;
    const err = await withWorker(env, untouchable, (taskQueue) =>
      env.client.workflow
        .execute(submitBatch, {
          taskQueue,
          workflowId: submitWorkflowId(`bad-input-${name.replace(/\W+/g, '-')}`),
          args: [input as SubmitWorkflowInput],
        })
        .catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('InvalidInput');
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    expect(cause?.message).toMatch(/^Invalid input: /);
    for (const p of problems) expect(cause?.message).toContain(p);
    expect(calls).toEqual([]);
  },
);

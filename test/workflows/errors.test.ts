import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId } from '../../workflows/messages';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());

function applicationCause(err: unknown): ApplicationFailure {
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const activityFailure = (err as WorkflowFailedError).cause;
  expect(activityFailure).toBeInstanceOf(ActivityFailure);
  const app = (activityFailure as ActivityFailure).cause;
  expect(app).toBeInstanceOf(ApplicationFailure);
  return app as ApplicationFailure;
}

describe('provider errors', () => {
  test('404 fails fast with a clear, non-retryable error (one call, no retries)', async () => {
    const fake = newFake({ id: 'batch_real', total: 1, runSeconds: 60 });
    const err = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow
        .execute(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId('batch_typo'),
          args: [{ batchId: 'batch_typo', provider: 'fake' }],
        })
        .catch((e: unknown) => e),
    );
    const app = applicationCause(err);
    expect(app.type).toBe('BatchNotFound');
    expect(app.nonRetryable).toBe(true);
    expect(app.message).toMatch(/retrieve batch batch_typo on provider 'fake': not found \(404\)/);
    expect(fake.calls).toHaveLength(1);
  });

  test('429 with Retry-After: retried after the delay the provider asked for, then tracking goes on', async () => {
    const fake = newFake({ id: 'batch_429', total: 10, runSeconds: 300 });
    fake.failNext('retrieve', 429, 2, { 'retry-after': '120' });
    const outcome = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_429'),
        args: [{ batchId: 'batch_429', provider: 'fake' }],
      }),
    );
    expect(outcome.status).toBe('completed');
    const [first, second, third] = fake.calls;
    expect(first.status).toBe(429);
    expect(second.status).toBe(429);
    expect(third.status).toBeUndefined();
    // nextRetryDelay from Retry-After, not the policy's 5 s initial interval.
    expect(second.at - first.at).toBeGreaterThanOrEqual(119);
    expect(second.at - first.at).toBeLessThanOrEqual(121);
    expect(third.at - second.at).toBeGreaterThanOrEqual(119);
  });

  test('5xx retries with backoff until the provider recovers', async () => {
    const fake = newFake({ id: 'batch_500', total: 10, runSeconds: 300 });
    fake.failNext('retrieve', 503, 3);
    const outcome = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_500'),
        args: [{ batchId: 'batch_500', provider: 'fake' }],
      }),
    );
    expect(outcome.status).toBe('completed');
    const gaps = fake.calls.slice(0, 4).map((c, i, a) => (i === 0 ? 0 : c.at - a[i - 1].at));
    expect(fake.calls.slice(0, 3).map((c) => c.status)).toEqual([503, 503, 503]);
    // 5 s, 10 s, 20 s: the workflow's exponential retry policy. The fake reads the server's clock in whole
    // seconds, and that clock runs on in real time while an attempt runs: on busy cores a gap read 6 for 5.
    const backoff = [5, 10, 20];
    gaps.slice(1).forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(backoff[i]);
      expect(gap).toBeLessThanOrEqual(backoff[i] + 1);
    });
  });

  test('401 is not retried and names the env var to fix, never the key', async () => {
    const fake = newFake({ id: 'batch_401', total: 10, runSeconds: 300 });
    fake.failNext('retrieve', 401, 1);
    const err = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow
        .execute(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId('batch_401'),
          args: [{ batchId: 'batch_401', provider: 'fake' }],
        })
        .catch((e: unknown) => e),
    );
    const app = applicationCause(err);
    expect(app.type).toBe('ProviderAuthFailed');
    expect(app.message).toMatch(/Check the key in FAKE_PROVIDER_KEY on the worker/);
    expect(app.message).not.toMatch(/sk-fake-test-key/);
    expect(fake.calls).toHaveLength(1);
  });

  test('an unknown provider profile fails with the list of known ones', async () => {
    const fake = newFake({ id: 'batch_np', total: 10, runSeconds: 300 });
    const err = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow
        .execute(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId('batch_np'),
          args: [{ batchId: 'batch_np', provider: 'opnai' }],
        })
        .catch((e: unknown) => e),
    );
    const app = applicationCause(err);
    expect(app.type).toBe('UnknownProvider');
    expect(app.message).toMatch(/Unknown provider profile 'opnai': this worker knows fake/);
  });
});

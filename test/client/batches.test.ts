import {
  BatchNotFoundError,
  BatchWorkflowClosedError,
  BatchWorkflowEndedError,
  BatchkeeperClient,
} from '../../src/client';
import { batchWorkflowId } from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { uniqueTaskQueue, withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();

const HOUR = 3600;
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());
const clientOn = (taskQueue: string) => new BatchkeeperClient(env.client, { taskQueue });

describe('track', () => {
  test('is idempotent: two tracks give one workflow, and a completed one is kept, not restarted', async () => {
    const fake = newFake({ id: 'bt_idem', total: 50, runSeconds: HOUR });
    await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      const first = await bk.track('bt_idem', { provider: 'fake' });
      const second = await bk.track('bt_idem', {
        provider: 'fake',
        pollPolicy: { initialIntervalSeconds: 5 },
      });
      expect(first).toMatchObject({ workflowId: 'batch-bt_idem', started: true, status: 'running' });
      expect(second).toMatchObject({ workflowId: 'batch-bt_idem', started: false, runId: first.runId });

      const outcome = await bk.waitForOutcome('bt_idem');
      expect(outcome.status).toBe('completed');
      const third = await bk.track('bt_idem', { provider: 'fake' });
      expect(third).toEqual({
        workflowId: 'batch-bt_idem',
        runId: first.runId,
        started: false,
        status: 'completed',
      });
    });
    // One workflow polled the provider and recorded billing once.
    expect(fake.recorded).toHaveLength(1);
  });

  test('passes the poll policy to the workflow it starts', async () => {
    const fake = newFake({ id: 'bt_policy', total: 10, runSeconds: 10 * HOUR });
    await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      await bk.track('bt_policy', {
        provider: 'fake',
        pollPolicy: { initialIntervalSeconds: 7, maxIntervalSeconds: 90 },
      });
      await env.sleep('1 minute');
      const status = await bk.status('bt_policy');
      if (status.source !== 'query') throw new Error(`expected a query answer, got ${status.source}`);
      expect(status.view.pollPolicy).toMatchObject({ initialIntervalSeconds: 7, maxIntervalSeconds: 90 });
      await env.client.workflow.getHandle(batchWorkflowId('bt_policy')).terminate('test done');
    });
  });
});

describe('cancel', () => {
  test('with a provider, before tracking: signal-with-start tracks and cancels in one call', async () => {
    const fake = newFake({ id: 'bt_sws', total: 300, runSeconds: 5 * HOUR, cancellingSeconds: 30 });
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      const sent = await bk.cancel('bt_sws', {
        provider: 'fake',
        reason: 'duplicate job',
        requestedBy: 'ops',
      });
      expect(sent.via).toBe('signal-with-start');
      expect(sent.workflowId).toBe('batch-bt_sws');
      return bk.waitForOutcome('bt_sws');
    });
    expect(fake.calls[0]).toMatchObject({ op: 'cancel', status: 200 });
    expect(outcome.status).toBe('cancelled');
    expect(outcome.cancel).toMatchObject({ reason: 'duplicate job', requestedBy: 'ops', source: 'signal' });
    expect(outcome.billing).toMatchObject({ total: 300, billed: 0, notRun: 300 });
  });

  test('cancel --provider starts a workflow that keeps the provider files unless cleanupRemote is set', async () => {
    const run = async (id: string, cleanupRemote?: boolean) => {
      const fake = newFake({ id, total: 100, runSeconds: HOUR, cancellingSeconds: 30 });
      const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
        const bk = clientOn(taskQueue);
        await env.sleep('20 minutes');
        await bk.cancel(id, { provider: 'fake', reason: 'test', cleanupRemote });
        return bk.waitForOutcome(id);
      });
      return { fake, outcome };
    };
    const kept = await run('bt_keep');
    expect(kept.outcome.status).toBe('cancelled');
    expect(kept.fake.deletedFiles).toEqual([]);
    const cleaned = await run('bt_clean', true);
    expect(cleaned.fake.deletedFiles.sort()).toEqual(['file-err', 'file-input']);
  });

  test('without a provider, of a batch nobody tracks: a clear not-found error', async () => {
    const bk = clientOn(uniqueTaskQueue());
    const err = await bk.cancel('bt_unknown', { reason: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchNotFoundError);
    expect((err as Error).message).toMatch(/batch-bt_unknown/);
    expect((err as Error).message).toMatch(/provider/);
  });

  test('plain signal of a running workflow; a closed workflow reports closed, not missing', async () => {
    const fake = newFake({ id: 'bt_sig', total: 100, runSeconds: 4 * HOUR, cancellingSeconds: 60 });
    await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      const tracked = await bk.track('bt_sig', { provider: 'fake' });
      await env.sleep('2 hours');
      const sent = await bk.cancel('bt_sig', { reason: 'over budget' });
      expect(sent).toEqual({ workflowId: 'batch-bt_sig', runId: tracked.runId, via: 'signal' });
      const outcome = await bk.waitForOutcome('bt_sig');
      expect(outcome.status).toBe('cancelled');
      expect(outcome.billing.billed).toBeGreaterThan(0);
      expect(outcome.billing.billed).toBeLessThan(100);

      const again = await bk.cancel('bt_sig', { reason: 'again' }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(BatchWorkflowClosedError);
      expect((again as BatchWorkflowClosedError).executionStatus).toBe('COMPLETED');
    });
    expect(fake.count('cancel')).toBe(1);
  });
});

describe('status', () => {
  test('mid-way: the live query with counts in progress', async () => {
    const fake = newFake({ id: 'bt_mid', total: 1000, runSeconds: 10 * HOUR });
    await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      await bk.track('bt_mid', { provider: 'fake' });
      await env.sleep('5 hours');
      const status = await bk.status('bt_mid');
      expect(status.source).toBe('query');
      if (status.source !== 'query') return;
      expect(status.execution.status).toBe('running');
      expect(status.view.phase).toBe('tracking');
      expect(status.view.snapshot?.status).toBe('in_progress');
      const done = status.view.snapshot?.requestCounts.completed ?? 0;
      expect(done).toBeGreaterThan(300);
      expect(done).toBeLessThan(700);
      expect(status.view.billing).toBeNull();
      await env.client.workflow.getHandle(batchWorkflowId('bt_mid')).terminate('test done');
    });
  });

  test('closed workflow: the query replays the final view while a worker runs; the result without one', async () => {
    const fake = newFake({ id: 'bt_done', total: 20, runSeconds: 600 });
    const bk = await withWorker(env, fake.activities(), async (taskQueue) => {
      const client = clientOn(taskQueue);
      await client.track('bt_done', { provider: 'fake' });
      await client.waitForOutcome('bt_done');
      const status = await client.status('bt_done');
      expect(status.source).toBe('query');
      if (status.source === 'query') {
        expect(status.execution.status).toBe('completed');
        expect(status.view.phase).toBe('finished');
        expect(status.view.billing).toMatchObject({ total: 20, billed: 20 });
      }
      return client;
    });
    // The worker is gone: nobody answers the query, the recorded result does.
    const status = await bk.status('bt_done', { queryTimeoutMs: 1500 });
    expect(status.source).toBe('result');
    if (status.source === 'result') expect(status.outcome.billing).toMatchObject({ total: 20, billed: 20 });
  });

  test('unknown batch: not found', async () => {
    await expect(clientOn(uniqueTaskQueue()).status('bt_nothing')).rejects.toBeInstanceOf(BatchNotFoundError);
  });
});

describe('waitForOutcome', () => {
  test('completed: the billing totals of the outcome', async () => {
    const fake = newFake({ id: 'bt_ok', total: 400, runSeconds: 3 * HOUR, failRatio: 0.25 });
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      await bk.track('bt_ok', { provider: 'fake' });
      return bk.waitForOutcome('bt_ok');
    });
    expect(outcome).toMatchObject({ batchId: 'bt_ok', provider: 'fake', status: 'completed' });
    expect(outcome.billing).toMatchObject({
      total: 400,
      completed: 300,
      billed: 300,
      failed: 100,
      notRun: 0,
    });
  });

  test('workflow cancelled through Temporal: a typed error that still carries the billing', async () => {
    const fake = newFake({ id: 'bt_wfc', total: 1000, runSeconds: 10 * HOUR, cancellingSeconds: 120 });
    const err = await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      await bk.track('bt_wfc', { provider: 'fake' });
      await env.sleep('2 hours');
      await env.client.workflow.getHandle(batchWorkflowId('bt_wfc')).cancel();
      return bk.waitForOutcome('bt_wfc').catch((e: unknown) => e);
    });
    expect(err).toBeInstanceOf(BatchWorkflowEndedError);
    const ended = err as BatchWorkflowEndedError;
    expect(ended.ending).toBe('cancelled');
    expect(ended.lastStatus?.snapshot?.status).toBe('cancelled');
    expect(ended.lastStatus?.cancel).toMatchObject({ source: 'workflow-cancellation' });
    expect(ended.billing?.billed).toBeGreaterThan(0);
    expect(ended.billing?.billed).toBe(fake.recorded[0].outcome.billing.billed);
  });

  test('terminated: typed error, no billing when the workflow never saw a terminal status', async () => {
    const fake = newFake({ id: 'bt_term', total: 10, runSeconds: 10 * HOUR });
    const err = await withWorker(env, fake.activities(), async (taskQueue) => {
      const bk = clientOn(taskQueue);
      await bk.track('bt_term', { provider: 'fake' });
      await env.sleep('1 hour');
      await env.client.workflow.getHandle(batchWorkflowId('bt_term')).terminate('operator');
      return bk.waitForOutcome('bt_term').catch((e: unknown) => e);
    });
    expect(err).toBeInstanceOf(BatchWorkflowEndedError);
    expect((err as BatchWorkflowEndedError).ending).toBe('terminated');
    expect((err as BatchWorkflowEndedError).billing).toBeNull();
  });

  test('unknown batch: not found', async () => {
    await expect(clientOn(uniqueTaskQueue()).waitForOutcome('bt_never')).rejects.toBeInstanceOf(
      BatchNotFoundError,
    );
  });
});

import { WorkflowFailedError } from '@temporalio/client';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId, statusQuery, type BatchOutcome } from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());

const HOUR = 3600;

describe('batch lifecycle on the time-skipping server', () => {
  test('a 24 h batch completes: progress is visible mid-way, billing and calls at the end', async () => {
    const fake = newFake({ id: 'batch_24h', total: 1000, runSeconds: 23 * HOUR, failRatio: 0.02 });
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_24h'),
        args: [{ batchId: 'batch_24h', provider: 'fake' }],
      });
      await env.sleep('12 hours');
      const mid = await handle.query(statusQuery);
      expect(mid.phase).toBe('tracking');
      expect(mid.snapshot?.status).toBe('in_progress');
      const done = (mid.snapshot?.requestCounts.completed ?? 0) + (mid.snapshot?.requestCounts.failed ?? 0);
      // 12 h of a 23 h run: about half done, seen by a recent poll (the cap is 15 min).
      expect(done).toBeGreaterThan(450);
      expect(done).toBeLessThan(530);
      expect(mid.nextPollAt).not.toBeNull();
      expect(mid.billing).toBeNull();
      return handle.result();
    });

    expect(outcome.status).toBe('completed');
    expect(outcome.billing).toEqual({
      total: 1000,
      completed: 980,
      billed: 980,
      failed: 20,
      notRun: 0,
      tokens: {
        inputTokens: 50000,
        cachedTokens: 0,
        outputTokens: 20000,
        reasoningTokens: 0,
        totalTokens: 70000,
      },
    });
    expect(outcome.snapshot.outputFileId).toBe('file-out');
    expect(outcome.snapshot.errorFileId).toBe('file-err');
    // Within the poll budget, and the terminal status seen soon after it happened.
    expect(fake.count('retrieve')).toBeLessThan(150);
    expect(outcome.providerCalls).toBe(fake.calls.length);
    const completedAt = outcome.snapshot.timestamps.completedAt as number;
    const lastCall = fake.calls[fake.calls.length - 1];
    expect(lastCall.at - completedAt).toBeLessThanOrEqual(10 * 60);
    // Results stored with checksums; a tracked batch (created elsewhere) keeps its provider files.
    expect(outcome.resultsError).toBeNull();
    expect(outcome.results?.summary).toMatchObject({
      succeeded: 980,
      failed: 20,
      failedByCode: { server_error: 20 },
    });
    expect(outcome.results?.files.map((f) => [f.kind, f.lines])).toEqual([
      ['output', 980],
      ['error', 20],
    ]);
    expect(outcome.results?.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
    expect(outcome.results?.remoteFilesDeleted).toEqual([]);
    expect(outcome.results?.remoteCleanup?.reason).toMatch(/^kept: a tracked batch/);
    expect(fake.deletedFiles).toEqual([]);
    expect(fake.recorded).toHaveLength(1);
    expect(fake.recorded[0].outcome).toEqual(outcome);
    expect(fake.recorded[0].workflowId).toBe('batch-batch_24h');
  });

  test('expired batch: partial counts are billed, the rest is not run', async () => {
    const fake = newFake({ id: 'batch_exp', total: 1000, runSeconds: 48 * HOUR, windowSeconds: 24 * HOUR });
    const outcome: BatchOutcome = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_exp'),
        args: [{ batchId: 'batch_exp', provider: 'fake' }],
      }),
    );
    expect(outcome.status).toBe('expired');
    const { billing } = outcome;
    expect(billing.total).toBe(1000);
    expect(billing.completed).toBeGreaterThan(480);
    expect(billing.completed).toBeLessThan(520);
    expect(billing.billed).toBe(billing.completed);
    expect(billing.notRun).toBe(1000 - billing.completed - billing.failed);
    // The partial output was paid for: it is downloaded, and the rest is listed as not run.
    expect(outcome.results?.summary).toMatchObject({
      succeeded: billing.completed,
      notRun: billing.notRun,
      notRunByCode: { batch_expired: billing.notRun },
    });
    // The poll was aimed at expires_at: the expiry is seen within a minute, not a 15 min cap later.
    const expiredAt = outcome.snapshot.timestamps.expiredAt as number;
    expect(fake.calls[fake.calls.length - 1].at - expiredAt).toBeLessThanOrEqual(60);
  });

  test('failed batch keeps the provider errors; DashScope 0 timestamps read as unset', async () => {
    const fake = newFake({
      id: 'batch_bad',
      total: 0,
      runSeconds: 60,
      profile: 'dashscope',
      validationErrors: [
        { code: 'duplicate_custom_id', message: 'custom_id req-1 is duplicated', line: 7 },
        { code: 'url_mismatch', message: 'url does not match endpoint', line: 9 },
      ],
    });
    const outcome = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_bad'),
        args: [{ batchId: 'batch_bad', provider: 'fake' }],
      }),
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.errors).toEqual([
      { code: 'duplicate_custom_id', message: 'custom_id req-1 is duplicated', param: null, line: 7 },
      { code: 'url_mismatch', message: 'url does not match endpoint', param: null, line: 9 },
    ]);
    expect(outcome.billing).toMatchObject({ total: 0, billed: 0, tokens: null });
    expect(outcome.snapshot.timestamps.completedAt).toBeNull();
    expect(outcome.snapshot.timestamps.inProgressAt).toBeNull();
    expect(outcome.snapshot.timestamps.failedAt).toEqual(expect.any(Number));
    expect(outcome.snapshot.metadata).toEqual({ ds_name: 'test' });
  });

  test('invalid input and an invalid poll policy fail at once with a clear message', async () => {
    const fake = newFake({ id: 'batch_x', total: 1, runSeconds: 1 });
    await withWorker(env, fake.activities(), async (taskQueue) => {
      const bad = env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: 'bad-input',
        args: [{ batchId: '', provider: 'fake', pollPolicy: { maxIntervalSeconds: -1 } }],
      });
      await expect(bad).rejects.toThrow(WorkflowFailedError);
      await expect(bad).rejects.toMatchObject({
        cause: { message: expect.stringMatching(/batchId must be/) },
      });
      const badPolicy = env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: 'bad-policy',
        args: [{ batchId: 'batch_x', provider: 'fake', pollPolicy: { minIntervalSeconds: 0 } }],
      });
      await expect(badPolicy).rejects.toMatchObject({
        cause: { message: expect.stringMatching(/minIntervalSeconds must be a positive number/) },
      });
    });
    expect(fake.calls).toHaveLength(0);
  });
});

import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId, cancelSignal, statusQuery } from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());

const HOUR = 3600;

describe('cancel', () => {
  test('mid-progress: 3 duplicate signals, one provider call, cancelling -> cancelled, billed = completed before cancel', async () => {
    const fake = newFake({ id: 'batch_c1', total: 2400, runSeconds: 20 * HOUR, cancellingSeconds: 300 });
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_c1'),
        args: [{ batchId: 'batch_c1', provider: 'fake' }],
      });
      await env.sleep('5 hours');
      await handle.signal(cancelSignal, { reason: 'budget exceeded', requestedBy: 'billing-service' });
      await handle.signal(cancelSignal, { reason: 'again' });
      await handle.signal(cancelSignal);
      // While cancelling, the status query already shows the cancel record and the provider's state.
      await env.sleep('1 minute');
      const during = await handle.query(statusQuery);
      expect(during.phase).toBe('cancelling');
      expect(during.snapshot?.status).toBe('cancelling');
      expect(during.cancel).toMatchObject({ reason: 'budget exceeded', requestedBy: 'billing-service' });
      return handle.result();
    });

    expect(fake.count('cancel')).toBe(1);
    expect(outcome.status).toBe('cancelled');
    expect(outcome.cancel).toMatchObject({
      reason: 'budget exceeded',
      requestedBy: 'billing-service',
      source: 'signal',
      duplicates: 2,
      tooLate: false,
      providerOutcome: 'cancel-requested',
    });
    // The provider finished in-flight requests while cancelling: those were done by cancelled_at.
    const cancelAt = fake.cancelRequestedAt as number;
    const expectedDone = Math.floor(
      (2400 * (cancelAt + 300 - (outcome.snapshot.timestamps.createdAt as number) - 60)) / (20 * HOUR),
    );
    expect(outcome.billing.completed).toBe(expectedDone);
    expect(outcome.billing.billed).toBe(expectedDone);
    expect(outcome.billing.notRun).toBe(2400 - expectedDone);
    // The cancel went out at once, not at the next scheduled poll.
    const signalTime = Date.parse(outcome.cancel?.requestedAt ?? '') / 1000;
    expect(cancelAt - Math.floor(signalTime)).toBeLessThanOrEqual(1);
    // Fast polling after the cancel: the terminal status seen within the cancel poll interval.
    const cancelledAt = outcome.snapshot.timestamps.cancelledAt as number;
    expect(fake.calls[fake.calls.length - 1].at - cancelledAt).toBeLessThanOrEqual(10);
    expect(fake.recorded).toHaveLength(1);
  });

  test('cancel racing completion: the provider refuses, the workflow ends completed', async () => {
    const fake = newFake({ id: 'batch_race', total: 100, runSeconds: HOUR, finalizingSeconds: 60 });
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_race'),
        args: [{ batchId: 'batch_race', provider: 'fake' }],
      });
      const createdAt = (await env.currentTimeMs()) / 1000;
      // Land the signal just after the provider completed (created + 60 validating + 3600 run + 60 finalizing).
      const now = (await env.currentTimeMs()) / 1000;
      await env.sleep((createdAt + 60 + 3600 + 60 + 2 - now) * 1000);
      const before = await handle.query(statusQuery);
      expect(before.snapshot?.status).not.toBe('completed');
      await handle.signal(cancelSignal, { reason: 'too slow' });
      return handle.result();
    });
    expect(outcome.status).toBe('completed');
    expect(outcome.billing).toMatchObject({ total: 100, completed: 100, billed: 100, notRun: 0 });
    expect(outcome.cancel).toMatchObject({
      reason: 'too slow',
      tooLate: false,
      providerOutcome: 'already-terminal',
    });
    expect(fake.calls.filter((c) => c.op === 'cancel')).toEqual([expect.objectContaining({ status: 400 })]);
  });

  test('cancel before the first poll (signal-with-start) cancels at once', async () => {
    const fake = newFake({ id: 'batch_early', total: 500, runSeconds: 10 * HOUR, cancellingSeconds: 30 });
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.signalWithStart(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_early'),
        args: [{ batchId: 'batch_early', provider: 'fake' }],
        signal: cancelSignal,
        signalArgs: [{ reason: 'submitted by mistake', requestedBy: 'ops' }],
      });
      return handle.result();
    });
    expect(fake.calls[0]).toMatchObject({ op: 'cancel', status: 200 });
    expect(fake.count('cancel')).toBe(1);
    expect(outcome.status).toBe('cancelled');
    expect(outcome.billing).toMatchObject({ total: 500, completed: 0, billed: 0, notRun: 500 });
    expect(outcome.cancel).toMatchObject({
      reason: 'submitted by mistake',
      requestedBy: 'ops',
      tooLate: false,
    });
  });

  test('a cancel arriving after the terminal status is recorded as too late, not sent', async () => {
    const fake = newFake({ id: 'batch_late', total: 10, runSeconds: 600 });
    let release: () => void = () => undefined;
    fake.recordGate = new Promise<void>((resolve) => (release = resolve));
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_late'),
        args: [{ batchId: 'batch_late', provider: 'fake' }],
      });
      // Skip time until the workflow is recording the outcome (terminal seen), then cancel. Time stops
      // skipping while the held activity runs, so the last short sleep costs a few real seconds.
      while (fake.recorded.length === 0) await env.sleep('3 seconds');
      await handle.signal(cancelSignal, { reason: 'late' });
      const view = await handle.query(statusQuery);
      release();
      expect(view.cancel).toMatchObject({ reason: 'late', tooLate: true });
      expect(view.billing).toMatchObject({ total: 10, billed: 10 });
      return handle.result();
    });
    expect(outcome.status).toBe('completed');
    expect(fake.count('cancel')).toBe(0);
  });

  test('cancelling the workflow cancels the provider batch, waits for the terminal status, records billing', async () => {
    const fake = newFake({ id: 'batch_wfc', total: 1000, runSeconds: 10 * HOUR, cancellingSeconds: 120 });
    await withWorker(env, fake.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId('batch_wfc'),
        args: [{ batchId: 'batch_wfc', provider: 'fake' }],
      });
      await env.sleep('2 hours');
      await handle.cancel();
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      const description = await handle.describe();
      expect(description.status.name).toBe('CANCELLED');
    });
    expect(fake.count('cancel')).toBe(1);
    expect(fake.recorded).toHaveLength(1);
    const { outcome } = fake.recorded[0];
    expect(outcome.status).toBe('cancelled');
    expect(outcome.cancel).toMatchObject({
      source: 'workflow-cancellation',
      providerOutcome: 'cancel-requested',
    });
    expect(outcome.billing.billed).toBeGreaterThan(150);
    expect(outcome.billing.billed + outcome.billing.notRun + outcome.billing.failed).toBe(1000);
  });
});

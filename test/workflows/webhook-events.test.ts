// Provider webhooks as hints: a `providerEvent` ends the wait and the batch is retrieved at once; duplicates and
// late events change nothing; with webhooks on the profile, polls thin out to a safety net.
import { batchLifecycle } from '../../workflows';
import {
  batchWorkflowId,
  providerEventSignal,
  statusQuery,
  type ProviderEvent,
} from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());
const HOUR = 3600;
const nowSeconds = async () => Math.floor((await env.currentTimeMs()) / 1000);
const event = (batchId: string, webhookId: string, createdAt: number): ProviderEvent => ({
  webhookId,
  type: 'batch.completed',
  createdAt,
  batchId,
  provider: 'fake',
});

/** Seconds from start until the fake batch is completed (validating 60 s + run + finalizing 120 s). */
const completesAfter = (plan: BatchPlan) => 60 + plan.runSeconds + 120;

test('pushed profile: a 24 h batch costs at most 20 calls, and its end is seen as soon as the event arrives', async () => {
  const plan: BatchPlan = { id: 'batch_push_24h', total: 1000, runSeconds: 23 * HOUR };
  const fake = newFake(plan);
  const { outcome, signalledAt, view } = await withWorker(
    env,
    fake.activities('fake', 'FAKE_PROVIDER_KEY', { pushed: true }),
    async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(plan.id),
        args: [{ batchId: plan.id, provider: 'fake' }],
      });
      const start = await nowSeconds();
      await env.sleep(`${completesAfter(plan) + 1} seconds`);
      const at = await nowSeconds();
      const e = event(plan.id, 'wh_1', at - 1);
      await handle.signal(providerEventSignal, e);
      // Delivered at least once: the same event again changes nothing.
      await handle.signal(providerEventSignal, e);
      const result = await handle.result();
      expect(at - start).toBeGreaterThan(completesAfter(plan));
      return { outcome: result, signalledAt: at, view: await handle.query(statusQuery) };
    },
  );
  expect(outcome.status).toBe('completed');
  const last = fake.calls[fake.calls.length - 1];
  // Seen within seconds of the event (the retrieve that confirmed it), not at the next safety-net poll.
  expect(last.at - signalledAt).toBeLessThanOrEqual(5);
  expect(fake.count('retrieve')).toBeLessThanOrEqual(20);
  expect(view.events).toMatchObject({ received: 1, duplicates: 1, late: 0 });
  expect(view.pollPolicy.maxIntervalSeconds).toBe(3 * HOUR);
  expect(fake.recorded).toHaveLength(1);
});

test('without webhooks on the profile an event is still a hint: it wakes the workflow, which confirms by a retrieve', async () => {
  const plan: BatchPlan = { id: 'batch_hint', total: 100, runSeconds: 10 * HOUR };
  const fake = newFake(plan);
  await withWorker(env, fake.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(plan.id),
      args: [{ batchId: plan.id, provider: 'fake' }],
    });
    await env.sleep('3 hours');
    const before = fake.count('retrieve');
    // A wrong (early) event: the provider says completed, the batch is still running. The workflow believes
    // the retrieve, not the event.
    await handle.signal(providerEventSignal, event(plan.id, 'wh_early', await nowSeconds()));
    await env.sleep('5 seconds');
    const view = await handle.query(statusQuery);
    expect(fake.count('retrieve')).toBe(before + 1);
    expect(view.snapshot?.status).toBe('in_progress');
    expect(view.events?.received).toBe(1);
    await handle.terminate('test done');
  });
});

test('an event after the terminal status is recorded as late and changes nothing', async () => {
  const plan: BatchPlan = { id: 'batch_late_event', total: 10, runSeconds: 600 };
  const fake = newFake(plan);
  let release: () => void = () => undefined;
  fake.recordGate = new Promise<void>((resolve) => (release = resolve));
  const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(plan.id),
      args: [{ batchId: plan.id, provider: 'fake' }],
    });
    while (fake.recorded.length === 0) await env.sleep('3 seconds');
    const calls = fake.calls.length;
    await handle.signal(providerEventSignal, event(plan.id, 'wh_late', await nowSeconds()));
    const view = await handle.query(statusQuery);
    release();
    const result = await handle.result();
    expect(view.events).toMatchObject({ received: 1, late: 1 });
    expect(fake.calls.length).toBe(calls);
    return result;
  });
  expect(outcome.status).toBe('completed');
  expect(fake.recorded).toHaveLength(1);
});

test('an event before the workflow saw in_progress (started by it, or while validating) is confirmed, never trusted', async () => {
  const plan: BatchPlan = { id: 'batch_early_event', total: 20, runSeconds: HOUR, validatingSeconds: 600 };
  const fake = newFake(plan);
  const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
    // Signal-with-start, as the receiver does with trackUnknown: the event arrives before any poll.
    const handle = await env.client.workflow.signalWithStart(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(plan.id),
      args: [{ batchId: plan.id, provider: 'fake' }],
      signal: providerEventSignal,
      signalArgs: [event(plan.id, 'wh_first', await nowSeconds())],
    });
    await env.sleep('2 minutes');
    const validating = await handle.query(statusQuery);
    expect(validating.snapshot?.status).toBe('validating');
    expect(validating.events?.received).toBe(1);
    const calls = fake.count('retrieve');
    // A second (early) event while validating: one immediate retrieve, which still says validating.
    await handle.signal(providerEventSignal, event(plan.id, 'wh_second', await nowSeconds()));
    await env.sleep('3 seconds');
    expect(fake.count('retrieve')).toBe(calls + 1);
    expect((await handle.query(statusQuery)).snapshot?.status).toBe('validating');
    return handle.result();
  });
  expect(outcome.status).toBe('completed');
  expect(outcome.billing.billed).toBe(20);
  expect(fake.recorded).toHaveLength(1);
});

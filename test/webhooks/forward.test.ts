// Receiver over HTTP -> a real Temporal server: signals reach running `batchLifecycle` workflows (FakeProvider
// activities), unknown batches are ignored or, with trackUnknown, tracked; a Temporal that does not answer is a 503.
import pino from 'pino';
import { Client, Connection } from '@temporalio/client';
import { WorkflowNotFoundError, defaultPayloadConverter } from '@temporalio/common';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { WebhookEndpoint } from '../../src/webhooks/endpoints';
import { startWebhookReceiver, type RunningReceiver } from '../../src/webhooks/receiver';
import {
  BATCH_WORKFLOW_TYPE,
  batchWorkflowId,
  statusQuery,
  type ProviderEvent,
} from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { uniqueTaskQueue, withWorker } from '../helpers/worker';
import { eventually, terminateIdle } from './polling';
import { batchEvent, newSecret, signedHeaders } from './signing';

const env = useTimeSkippingEnv();
const SECRET = newSecret();
const HOUR = 3600;
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());

async function receiver(
  taskQueue: string,
  opts: { trackUnknown?: boolean; client?: Client; forwardTimeoutMs?: number } = {},
): Promise<RunningReceiver> {
  // `fake` is the profile FakeProvider's activities serve, so a workflow started by trackUnknown can run.
  const endpoints: WebhookEndpoint[] = [
    { profile: 'fake', secret: SECRET, trackUnknown: opts.trackUnknown ?? false },
  ];
  return startWebhookReceiver({
    client: opts.client ?? env.client,
    endpoints,
    taskQueue,
    logger: pino({ level: 'silent' }),
    port: 0,
    forwardTimeoutMs: opts.forwardTimeoutMs,
  });
}

async function deliver(r: RunningReceiver, event: { id: string; body: string }) {
  const res = await fetch(`${r.origin}/webhooks/fake`, {
    method: 'POST',
    body: event.body,
    headers: signedHeaders(SECRET, event.id, event.body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The `providerEvent` signals in the workflow's history, decoded. */
async function providerEventSignals(batchId: string): Promise<ProviderEvent[]> {
  const history = await env.client.workflow.getHandle(batchWorkflowId(batchId)).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === 'providerEvent')
    .map((a) => defaultPayloadConverter.fromPayload<ProviderEvent>(a!.input!.payloads![0]));
}

test('a verified event signals the running workflow, which records it and retrieves the batch at once', async () => {
  const fake = newFake({ id: 'wh_run', total: 10, runSeconds: 10 * HOUR });
  await withWorker(env, fake.activities(), async (tq) => {
    await env.client.workflow.start(BATCH_WORKFLOW_TYPE, {
      workflowId: batchWorkflowId('wh_run'),
      taskQueue: tq,
      args: [{ batchId: 'wh_run', provider: 'fake' }],
    });
    const handle = env.client.workflow.getHandle(batchWorkflowId('wh_run'));
    await eventually(
      () => handle.query(statusQuery),
      (v) => v.snapshot !== null,
    );
    const retrievesBefore = fake.count('retrieve');
    const r = await receiver(tq);
    try {
      const event = batchEvent('wh_run', 'batch.completed');
      expect(await deliver(r, event)).toEqual({ status: 200, body: { status: 'signalled' } });

      const view = await eventually(
        () => handle.query(statusQuery),
        (v) => v.events?.received === 1,
      );
      expect(view.events?.last?.webhookId).toBe(event.id);
      const signals = await providerEventSignals('wh_run');
      expect(signals).toEqual([
        {
          webhookId: event.id,
          type: 'batch.completed',
          createdAt: (JSON.parse(event.body) as { created_at: number }).created_at,
          batchId: 'wh_run',
          provider: 'fake',
        },
      ]);
      // The poll timer (30 s of server time) does not fire while nothing awaits a result: this retrieve is the
      // event's doing.
      expect(
        await eventually(
          async () => fake.count('retrieve'),
          (n) => n > retrievesBefore,
        ),
      ).toBe(retrievesBefore + 1);
    } finally {
      await r.close();
    }
    await terminateIdle(env.client, 'wh_run');
  });
});

test('a redelivery after a restart (in-memory dedup lost) is signalled again and counted as a duplicate by the workflow', async () => {
  const fake = newFake({ id: 'wh_dup', total: 10, runSeconds: 10 * HOUR });
  await withWorker(env, fake.activities(), async (tq) => {
    await env.client.workflow.start(BATCH_WORKFLOW_TYPE, {
      workflowId: batchWorkflowId('wh_dup'),
      taskQueue: tq,
      args: [{ batchId: 'wh_dup', provider: 'fake' }],
    });
    const handle = env.client.workflow.getHandle(batchWorkflowId('wh_dup'));
    await eventually(
      () => handle.query(statusQuery),
      (v) => v.snapshot !== null,
    );
    const event = batchEvent('wh_dup', 'batch.completed');
    const first = await receiver(tq);
    expect((await deliver(first, event)).body).toEqual({ status: 'signalled' });
    expect((await deliver(first, event)).body).toEqual({ status: 'duplicate' });
    await first.close();
    const restarted = await receiver(tq);
    try {
      expect((await deliver(restarted, event)).body).toEqual({ status: 'signalled' });
    } finally {
      await restarted.close();
    }
    const view = await eventually(
      () => handle.query(statusQuery),
      (v) => v.events?.duplicates === 1,
    );
    expect(view.events).toMatchObject({ received: 1, duplicates: 1 });
    // Read after the query: a signal that arrives during a workflow task enters history when that task ends.
    expect(await providerEventSignals('wh_dup')).toHaveLength(2);
    await terminateIdle(env.client, 'wh_dup');
  });
});

test('an event for a batch no workflow tracks is acknowledged and ignored by default', async () => {
  const r = await receiver(uniqueTaskQueue('wh'));
  try {
    expect(await deliver(r, batchEvent('wh_nobody'))).toEqual({ status: 200, body: { status: 'untracked' } });
  } finally {
    await r.close();
  }
  await expect(env.client.workflow.getHandle(batchWorkflowId('wh_nobody')).describe()).rejects.toThrow(
    WorkflowNotFoundError,
  );
});

test('with trackUnknown, an event for an untracked batch starts batchLifecycle on the task queue with the signal', async () => {
  const fake = newFake({ id: 'wh_new', total: 10, runSeconds: 10 * HOUR });
  await withWorker(env, fake.activities(), async (tq) => {
    const r = await receiver(tq, { trackUnknown: true });
    const event = batchEvent('wh_new', 'batch.completed');
    try {
      expect(await deliver(r, event)).toEqual({ status: 200, body: { status: 'started' } });
    } finally {
      await r.close();
    }
    const handle = env.client.workflow.getHandle(batchWorkflowId('wh_new'));
    const d = await handle.describe();
    expect(d.type).toBe(BATCH_WORKFLOW_TYPE);
    expect(d.taskQueue).toBe(tq);
    const history = await handle.fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(defaultPayloadConverter.fromPayload(started!.input!.payloads![0])).toEqual({
      batchId: 'wh_new',
      provider: 'fake',
    });
    expect((await providerEventSignals('wh_new')).map((e) => e.webhookId)).toEqual([event.id]);
    // The started workflow follows the batch like a tracked one.
    const view = await eventually(
      () => handle.query(statusQuery),
      (v) => v.snapshot !== null && v.events?.received === 1,
    );
    expect(view.snapshot?.id).toBe('wh_new');
    await terminateIdle(env.client, 'wh_new');
  });
});

test("with trackUnknown, a completed workflow's batch is finished: acknowledged, no new run", async () => {
  // Finished before the first look, so the workflow completes without waiting on a timer.
  const createdAt = Math.floor((await env.currentTimeMs()) / 1000) - 2 * HOUR;
  const fake = newFake({ id: 'wh_done', total: 4, runSeconds: 600, createdAt });
  await withWorker(env, fake.activities(), async (tq) => {
    const handle = await env.client.workflow.start(BATCH_WORKFLOW_TYPE, {
      workflowId: batchWorkflowId('wh_done'),
      taskQueue: tq,
      args: [{ batchId: 'wh_done', provider: 'fake' }],
    });
    await handle.result();
    const r = await receiver(tq, { trackUnknown: true });
    try {
      expect(await deliver(r, batchEvent('wh_done'))).toEqual({ status: 200, body: { status: 'finished' } });
    } finally {
      await r.close();
    }
    const d = await env.client.workflow.getHandle(batchWorkflowId('wh_done')).describe();
    expect(d.runId).toBe(handle.firstExecutionRunId);
    expect(d.status.name).toBe('COMPLETED');
  });
});

test('a Temporal that does not answer gets the provider a 503; the retry after it is back is forwarded', async () => {
  // Accepts TCP and never answers: gRPC waits for it until the forward deadline, as for a hung frontend.
  const sockets = new Set<Socket>();
  const blackHole = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const port = (blackHole.address() as AddressInfo).port;
  const connection = Connection.lazy({ address: `127.0.0.1:${port}` });
  const down = new Client({ connection });
  const tq = uniqueTaskQueue('wh');
  const event = batchEvent('wh_down');
  const r = await receiver(tq, { client: down, forwardTimeoutMs: 1500 });
  try {
    const res = await deliver(r, event);
    expect(res.status).toBe(503);
  } finally {
    await r.close();
    await connection.close();
    sockets.forEach((socket) => socket.destroy());
    await new Promise((resolve) => blackHole.close(resolve));
  }
  const up = await receiver(tq);
  try {
    expect(await deliver(up, event)).toEqual({ status: 200, body: { status: 'untracked' } });
  } finally {
    await up.close();
  }
});

// Keys live only in the worker's environment: not in input, history, memo, failures or results.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { createActivities } from '../../activities';
import { ProviderRegistry } from '../../activities/providers';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId, cancelSignal } from '../../workflows/messages';
import { client, createChatBatch } from '../emulator/helpers';
import { createTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const SECRET = 'sk-live-SECRET-do-not-leak-4242';
let env: TestWorkflowEnvironment;
let emu: EmulatorHandle;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  emu = await startEmulator({
    clock: 'manual',
    apiKey: SECRET,
    validatingSeconds: 5,
    requestSeconds: 2,
    finalizingSeconds: 5,
  });
});
afterAll(async () => {
  await emu?.close();
  await env?.teardown();
});

test('the API key appears in no history: completed, cancelled and failed (401) workflows', async () => {
  const providerEnv = { EMU_API_KEY: SECRET, BAD_KEY: `${SECRET}-revoked` };
  const registry = new ProviderRegistry(
    [
      { name: 'emu', baseURL: emu.url, apiKeyEnv: 'EMU_API_KEY', kind: 'openai' },
      { name: 'revoked', baseURL: emu.url, apiKeyEnv: 'BAD_KEY', kind: 'openai' },
    ],
    providerEnv,
  );
  const activities = createActivities({ providers: registry, outcomes: { record: async () => undefined } });
  const api = client(emu, emu.url, SECRET);
  const done = await createChatBatch(api, 3);
  const cancelled = await createChatBatch(api, 50);

  const histories = await withWorker(env, activities, async (taskQueue) => {
    const h1 = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(done.id),
      args: [{ batchId: done.id, provider: 'emu' }],
    });
    const h2 = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(cancelled.id),
      args: [{ batchId: cancelled.id, provider: 'emu' }],
    });
    const h3 = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: 'secret-401',
      args: [{ batchId: done.id, provider: 'revoked' }],
    });
    await emu.advance(20);
    await h2.signal(cancelSignal, { reason: 'secrets test' });
    // The emulator's clock is manual: let the cancel reach it before moving time on.
    while (!emu.calls().some((c) => c.path.endsWith('/cancel'))) await new Promise((r) => setTimeout(r, 10));
    await emu.advance(600);
    const r1 = await h1.result();
    const r2 = await h2.result();
    await expect(h3.result()).rejects.toThrow();
    expect(r1.status).toBe('completed');
    expect(r2.status).toBe('cancelled');
    return Promise.all([h1, h2, h3].map(async (h) => historyToJSON(await h.fetchHistory())));
  });

  for (const json of histories) {
    expect(json.length).toBeGreaterThan(1000);
    expect(json).not.toContain(SECRET);
    expect(json).not.toContain(Buffer.from(SECRET).toString('base64'));
  }
  // The 401 failure names the env var to fix, so the check above looked at a real failure message.
  expect(histories[2]).toContain('BAD_KEY');
});

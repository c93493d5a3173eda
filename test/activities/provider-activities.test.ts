// The real activities, over real HTTP, against the emulator, with the real `openai` client.
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { retryAfterMs } from '../../activities/errors';
import { ProviderRegistry } from '../../activities/providers';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { WorkerActivities } from '../../workflows/shared/activity-types';
import { client, createChatBatch } from '../emulator/helpers';
import { failure } from '../helpers/failures';

const KEY = 'sk-test-key';
let emu: EmulatorHandle;
let dashscope: EmulatorHandle;
let acts: WorkerActivities;
// Expected failures are logged as warnings by the mock environment: keep the output to real errors.
const mockEnv = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> =>
  mockEnv.run(fn, ...args);

beforeAll(async () => {
  emu = await startEmulator({
    clock: 'manual',
    apiKey: KEY,
    startTime: 1_700_000_000,
    validatingSeconds: 10,
    requestSeconds: 5,
    finalizingSeconds: 20,
    cancellingSeconds: 30,
  });
  dashscope = await startEmulator({
    clock: 'manual',
    apiKey: KEY,
    profile: 'dashscope',
    startTime: 1_700_000_000,
  });
  const registry = new ProviderRegistry(
    [
      { name: 'emu', baseURL: emu.url, apiKeyEnv: 'EMU_KEY', kind: 'openai' },
      { name: 'ds', baseURL: dashscope.compatibleUrl, apiKeyEnv: 'EMU_KEY', kind: 'dashscope' },
      { name: 'wrongkey', baseURL: emu.url, apiKeyEnv: 'WRONG_KEY', kind: 'openai' },
      { name: 'nokey', baseURL: emu.url, apiKeyEnv: 'UNSET_KEY', kind: 'openai' },
      {
        name: 'down',
        baseURL: 'http://127.0.0.1:1/v1',
        apiKeyEnv: 'EMU_KEY',
        kind: 'openai',
        timeoutMs: 2000,
      },
    ],
    { EMU_KEY: KEY, WRONG_KEY: 'sk-wrong' },
  );
  acts = createActivities({ providers: registry, outcomes: { record: async () => undefined } });
});
afterAll(async () => {
  await emu?.close();
  await dashscope?.close();
});
beforeEach(() => {
  emu.setFaults({});
  emu.clearCalls();
});

describe('retrieveBatch', () => {
  test('normalizes an OpenAI batch (null timestamps, usage) as it progresses', async () => {
    const batch = await createChatBatch(client(emu), 4);
    const first = await run(acts.retrieveBatch, { provider: 'emu', batchId: batch.id });
    expect(first).toMatchObject({ id: batch.id, status: 'validating', endpoint: '/v1/chat/completions' });
    expect(first.timestamps.completedAt).toBeNull();
    await emu.advance(10 + 4 * 5 + 20 + 1);
    const done = await run(acts.retrieveBatch, { provider: 'emu', batchId: batch.id });
    expect(done.status).toBe('completed');
    expect(done.requestCounts).toEqual({ total: 4, completed: 4, failed: 0 });
    expect(done.outputFileId).toMatch(/^file-/);
    expect(done.usage?.totalTokens).toBeGreaterThan(0);
    expect(done.timestamps.completedAt).toBeGreaterThan(done.timestamps.createdAt as number);
  });

  test('normalizes a DashScope batch: 0 timestamps are unset, no usage', async () => {
    const batch = await createChatBatch(client(dashscope, dashscope.compatibleUrl), 2, {
      completion_window: '336h',
    } as never);
    const snap = await run(acts.retrieveBatch, { provider: 'ds', batchId: batch.id });
    expect(snap.completionWindow).toBe('336h');
    expect(snap.timestamps.inProgressAt).toBeNull();
    expect(snap.timestamps.cancelledAt).toBeNull();
    expect(snap.usage).toBeNull();
  });

  test('404 -> BatchNotFound, non-retryable', async () => {
    const f = await failure(run(acts.retrieveBatch, { provider: 'emu', batchId: 'batch_nope' }));
    expect(f.type).toBe('BatchNotFound');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/batch_nope/);
  });

  test('401 -> ProviderAuthFailed naming the env var, never the key', async () => {
    const f = await failure(run(acts.retrieveBatch, { provider: 'wrongkey', batchId: 'batch_x' }));
    expect(f.type).toBe('ProviderAuthFailed');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/WRONG_KEY/);
    expect(f.message).not.toMatch(/sk-wrong/);
  });

  test('a profile without its key fails before any call', async () => {
    const f = await failure(run(acts.retrieveBatch, { provider: 'nokey', batchId: 'batch_x' }));
    expect(f.type).toBe('ProviderApiKeyMissing');
    expect(f.message).toMatch(/UNSET_KEY/);
    expect(emu.calls()).toHaveLength(0);
  });

  test('429 -> retryable with nextRetryDelay from Retry-After', async () => {
    emu.setFaults({ rateLimit: { nextN: 1, retryAfterSeconds: 42 } });
    const f = await failure(run(acts.retrieveBatch, { provider: 'emu', batchId: 'batch_x' }));
    expect(f.type).toBe('ProviderRateLimited');
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(42_000);
  });

  test('500 -> retryable ProviderServerError; dropped connection and refused port -> ProviderUnreachable', async () => {
    emu.setFaults({ serverError: { nextN: 1, status: 503 } });
    const f500 = await failure(run(acts.retrieveBatch, { provider: 'emu', batchId: 'batch_x' }));
    expect(f500.type).toBe('ProviderServerError');
    expect(f500.nonRetryable).toBe(false);
    emu.setFaults({ dropConnection: { nextN: 1 } });
    const dropped = await failure(run(acts.retrieveBatch, { provider: 'emu', batchId: 'batch_x' }));
    expect(dropped.type).toBe('ProviderUnreachable');
    const refused = await failure(run(acts.retrieveBatch, { provider: 'down', batchId: 'batch_x' }));
    expect(refused.type).toBe('ProviderUnreachable');
    expect(refused.nonRetryable).toBe(false);
  });
});

describe('cancelBatch', () => {
  test('cancels a running batch, and a second cancel returns it as it is', async () => {
    const batch = await createChatBatch(client(emu), 10);
    await emu.advance(20);
    const first = await run(acts.cancelBatch, { provider: 'emu', batchId: batch.id });
    expect(first.outcome).toBe('cancel-requested');
    expect(first.snapshot.status).toBe('cancelling');
    const again = await run(acts.cancelBatch, { provider: 'emu', batchId: batch.id });
    expect(['cancel-requested', 'already-cancelling']).toContain(again.outcome);
    expect(again.snapshot.status).toBe('cancelling');
    await emu.advance(31);
    const after = await run(acts.cancelBatch, { provider: 'emu', batchId: batch.id });
    expect(after.outcome).toBe('already-terminal');
    expect(after.snapshot.status).toBe('cancelled');
  });

  test('a completed batch: the refusal is a race, answered with the terminal batch', async () => {
    const batch = await createChatBatch(client(emu), 2);
    await emu.advance(10 + 2 * 5 + 20 + 1);
    const result = await run(acts.cancelBatch, { provider: 'emu', batchId: batch.id });
    expect(result.outcome).toBe('already-terminal');
    expect(result.snapshot.status).toBe('completed');
    const cancels = emu.calls().filter((c) => c.method === 'POST' && c.path.endsWith('/cancel'));
    expect(cancels.map((c) => c.status)).toEqual([400]);
  });
});

describe('retryAfterMs', () => {
  test('seconds, HTTP dates, retry-after-ms, and bounds', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '1500', 'retry-after': '9' }), now)).toBe(1500);
    expect(retryAfterMs(new Headers({ 'retry-after': '86400' }), now)).toBe(600_000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(retryAfterMs(new Headers(), now)).toBeUndefined();
  });
});

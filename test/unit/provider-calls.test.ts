// Provider calls counted in the clients' transport: every request once, by operation and outcome, while the
// activities return and throw exactly what they do with an uncounted registry (the emulator over real HTTP).
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { ProviderRegistry, type ProviderProfile } from '../../activities/providers';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import {
  MeteredProviderRegistry,
  callOutcome,
  meteredFetch,
  providerOperation,
} from '../../src/worker/provider-calls';
import type { BatchRef, WorkerActivities } from '../../workflows/shared/activity-types';
import { client, createChatBatch } from '../emulator/helpers';
import { recordingMetrics, type RecordingMetrics } from './recording-metrics';

describe('providerOperation', () => {
  test.each([
    ['GET', 'https://api.openai.com/v1/batches/batch_abc', 'retrieve'],
    ['POST', 'https://api.openai.com/v1/batches/batch_abc/cancel', 'cancel'],
    ['POST', 'https://api.openai.com/v1/batches', 'create'],
    ['GET', 'https://api.openai.com/v1/batches?limit=100&after=batch_x', 'list'],
    ['POST', 'https://api.openai.com/v1/files', 'upload'],
    ['POST', 'https://api.openai.com/v1/uploads/upload_1/parts', 'upload'],
    ['GET', 'https://api.openai.com/v1/files/file-1/content', 'download'],
    ['DELETE', 'https://api.openai.com/v1/files/file-1', 'delete'],
    ['GET', 'https://api.openai.com/v1/files/file-1', 'file_retrieve'],
    ['GET', 'https://api.openai.com/v1/files?purpose=batch', 'file_list'],
    // DashScope's compatible mode and a gateway's prefix: the tail decides.
    ['GET', 'https://dashscope.aliyuncs.com/compatible-mode/v1/batches/batch_9', 'retrieve'],
    ['POST', 'http://gw.internal/llm/openai/v1/batches/b/cancel/', 'cancel'],
    ['GET', 'http://gw.internal/files/v1/batches/batch_1', 'retrieve'],
    ['GET', 'https://api.openai.com/v1/batches/b/cancel/more', 'other'],
    ['POST', 'https://api.openai.com/v1/chat/completions', 'other'],
    ['PATCH', 'https://api.openai.com/v1/batches/b', 'other'],
    ['GET', 'not a url', 'other'],
  ])('%s %s -> %s', (method, url, operation) => {
    expect(providerOperation(method, url)).toBe(operation);
  });
});

test('callOutcome follows the activities’ error classes', () => {
  expect([200, 201, 204, 304, 400, 401, 403, 404, 409, 422, 429, 500, 503].map(callOutcome)).toEqual([
    'ok',
    'ok',
    'ok',
    'ok',
    'client_error',
    'auth',
    'auth',
    'not_found',
    'client_error',
    'client_error',
    'rate_limited',
    'server_error',
    'server_error',
  ]);
});

test('meteredFetch hands back the very Response, and rethrows the very error', async () => {
  const metrics = recordingMetrics();
  const response = new Response('{}', { status: 404 });
  const ok = meteredFetch('p', metrics, async () => response);
  expect(await ok('https://x/v1/batches/b', { method: 'GET' })).toBe(response);
  const boom = new TypeError('fetch failed');
  const broken = meteredFetch('p', metrics, async () => {
    throw boom;
  });
  await expect(broken('https://x/v1/batches/b/cancel', { method: 'POST' })).rejects.toBe(boom);
  const aborted = meteredFetch('p', metrics, async () => {
    throw new DOMException('aborted', 'AbortError');
  });
  await expect(aborted(new URL('https://x/v1/files/f/content'))).rejects.toThrow('aborted');
  expect(metrics.observations).toEqual([
    {
      metric: 'providerCalls',
      value: 1,
      labels: { provider: 'p', operation: 'retrieve', outcome: 'not_found' },
    },
    { metric: 'providerCalls', value: 1, labels: { provider: 'p', operation: 'cancel', outcome: 'network' } },
    {
      metric: 'providerCalls',
      value: 1,
      labels: { provider: 'p', operation: 'download', outcome: 'aborted' },
    },
  ]);
});

describe('the activities over a counted registry', () => {
  const KEY = 'sk-calls-key';
  let emu: EmulatorHandle;
  let metrics: RecordingMetrics;
  let counted: WorkerActivities;
  let plain: WorkerActivities;
  const mockEnv = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const settle = <T>(p: Promise<T>) =>
    p.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );

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
  });
  afterAll(async () => {
    await emu?.close();
  });
  beforeEach(() => {
    emu.setFaults({});
    metrics = recordingMetrics();
    const profiles: ProviderProfile[] = [
      { name: 'emu', baseURL: emu.url, apiKeyEnv: 'EMU_KEY', kind: 'openai' },
      { name: 'wrongkey', baseURL: emu.url, apiKeyEnv: 'WRONG_KEY', kind: 'openai' },
      {
        name: 'down',
        baseURL: 'http://127.0.0.1:1/v1',
        apiKeyEnv: 'EMU_KEY',
        kind: 'openai',
        timeoutMs: 2000,
      },
    ];
    const env = { EMU_KEY: KEY, WRONG_KEY: 'sk-wrong' };
    const outcomes = { record: async () => undefined };
    counted = createActivities({ providers: new MeteredProviderRegistry(profiles, env, metrics), outcomes });
    plain = createActivities({ providers: new ProviderRegistry(profiles, env), outcomes });
  });

  /** Runs the activity on both registries: same result or same failure, and what the counted one counted. */
  async function both(activity: 'retrieveBatch' | 'cancelBatch', ref: BatchRef) {
    const before = metrics.observations.length;
    const a = await settle(mockEnv.run(counted[activity], ref));
    const counts = metrics.observations.slice(before).map((o) => `${o.labels.operation}:${o.labels.outcome}`);
    const b = await settle(mockEnv.run(plain[activity], ref));
    expect(a).toEqual(b);
    return counts;
  }

  test('retrieve and cancel: one count per request, with the provider profile', async () => {
    const batch = await createChatBatch(client(emu, emu.url, KEY), 3);
    expect(await both('retrieveBatch', { provider: 'emu', batchId: batch.id })).toEqual(['retrieve:ok']);
    await emu.advance(12);
    expect(await both('cancelBatch', { provider: 'emu', batchId: batch.id })).toEqual(['cancel:ok']);
    expect(metrics.observations.every((o) => o.labels.provider === 'emu')).toBe(true);
    expect(metrics.observations.map((o) => o.value)).toEqual([1, 1]);
  });

  test('a cancel refused because the batch already finished: the refusal and the look that follows', async () => {
    const batch = await createChatBatch(client(emu, emu.url, KEY), 1);
    await emu.advance(10 + 5 + 20 + 1);
    expect(await both('cancelBatch', { provider: 'emu', batchId: batch.id })).toEqual([
      'cancel:client_error',
      'retrieve:ok',
    ]);
  });

  test('failures are counted by class and thrown as before', async () => {
    expect(await both('retrieveBatch', { provider: 'emu', batchId: 'batch_nope' })).toEqual([
      'retrieve:not_found',
    ]);
    expect(await both('retrieveBatch', { provider: 'wrongkey', batchId: 'batch_x' })).toEqual([
      'retrieve:auth',
    ]);
    emu.setFaults({ rateLimit: { nextN: 1, retryAfterSeconds: 3 } });
    const limited = await settle(mockEnv.run(counted.retrieveBatch, { provider: 'emu', batchId: 'batch_x' }));
    expect(limited).toHaveProperty('error');
    emu.setFaults({ serverError: { nextN: 1, status: 503 } });
    await settle(mockEnv.run(counted.retrieveBatch, { provider: 'emu', batchId: 'batch_x' }));
    expect(await both('retrieveBatch', { provider: 'down', batchId: 'batch_x' })).toEqual([
      'retrieve:network',
    ]);
    expect(metrics.observations.map((o) => o.labels.outcome)).toEqual([
      'not_found',
      'auth',
      'rate_limited',
      'server_error',
      'network',
    ]);
  });

  test('no label carries a batch id or a key', async () => {
    const batch = await createChatBatch(client(emu, emu.url, KEY), 1);
    await both('retrieveBatch', { provider: 'emu', batchId: batch.id });
    await both('retrieveBatch', { provider: 'wrongkey', batchId: batch.id });
    const values = metrics.observations.flatMap((o) => Object.values(o.labels));
    expect(values.some((v) => v.includes(batch.id) || v.includes('sk-'))).toBe(false);
  });
});

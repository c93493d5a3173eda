import OpenAI from 'openai';
import type { EmulatorHandle } from '../../src/emulator';
import { client, createChatBatch, startManual } from './helpers';

describe('faults as the openai SDK sees them', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  let batchId: string;
  beforeAll(async () => {
    h = await startManual();
    c = client(h);
    batchId = (await createChatBatch(c, 2)).id;
  });
  afterEach(() => h.setFaults({}));
  afterAll(() => h.close());

  test('rateLimit -> 429 RateLimitError with retry-after readable from err.headers', async () => {
    h.setFaults({ rateLimit: { nextN: 1, retryAfterSeconds: 7 } });
    const e = await c.batches.retrieve(batchId).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.RateLimitError);
    const rl = e as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rl.status).toBe(429);
    expect(rl.headers.get('retry-after')).toBe('7');
    expect(rl.code).toBe('rate_limit_exceeded');
    // nextN is used up: the next call goes through.
    expect((await c.batches.retrieve(batchId)).id).toBe(batchId);
  });

  test('serverError -> InternalServerError with the configured status', async () => {
    h.setFaults({ serverError: { nextN: 2, status: 503 } });
    const e = await c.batches.retrieve(batchId).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.InternalServerError);
    expect((e as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503);
    expect(h.faults().serverError?.nextN).toBe(1);
    h.setFaults({ serverError: { rate: 1 } });
    const e2 = await c.batches.list().catch((err: unknown) => err);
    expect((e2 as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(500);
  });

  test('the SDK retries a 500 by itself when maxRetries allows (proves the fault is transient)', async () => {
    h.setFaults({ serverError: { nextN: 1 } });
    h.clearCalls();
    const retrying = new OpenAI({ apiKey: h.apiKey, baseURL: h.url, maxRetries: 1 });
    expect((await retrying.batches.retrieve(batchId)).id).toBe(batchId);
    expect(h.calls().map((x) => x.status)).toEqual([500, 200]);
  });

  test('dropConnection -> APIConnectionError and a call-log entry with status 0', async () => {
    h.setFaults({ dropConnection: { nextN: 1 } });
    h.clearCalls();
    const e = await c.batches.retrieve(batchId).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(h.calls()).toEqual([expect.objectContaining({ route: 'batches.retrieve', status: 0 })]);
  });

  test('dropConnection afterHandler: the cancel takes effect although the client saw a dropped connection', async () => {
    const b = await createChatBatch(c, 1);
    h.setFaults({ dropConnection: { nextN: 1, only: 'cancel', afterHandler: true } });
    await expect(c.batches.cancel(b.id)).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect((await c.batches.retrieve(b.id)).status).toBe('cancelling');
    // The retry of the lost cancel answers 200 with the batch unchanged.
    expect((await c.batches.cancel(b.id)).status).toBe('cancelling');
  });

  test('latencyMs delays responses', async () => {
    h.setFaults({ latencyMs: 300 });
    const t = Date.now();
    await c.batches.retrieve(batchId);
    expect(Date.now() - t).toBeGreaterThanOrEqual(290);
    h.setFaults({ latencyMs: { ms: 300, only: 'cancel' } });
    const t2 = Date.now();
    await c.batches.retrieve(batchId);
    expect(Date.now() - t2).toBeLessThan(250);
  });

  test('latencyMs with nextN (or rate) delays only the calls it picks', async () => {
    h.setFaults({ latencyMs: { ms: 300, nextN: 1 } });
    const timed = async () => {
      const t = Date.now();
      await c.batches.retrieve(batchId);
      return Date.now() - t;
    };
    expect(await timed()).toBeGreaterThanOrEqual(290);
    expect(await timed()).toBeLessThan(250);
    expect(h.faults().latencyMs).toEqual({ ms: 300, nextN: 0 });
  });

  test('latencyMs lateEffect: the client gives up, the create still lands when the wait ends', async () => {
    const b = await createChatBatch(c, 1);
    const impatient = new OpenAI({ apiKey: h.apiKey, baseURL: h.url, maxRetries: 0, timeout: 150 });
    const before = (await c.batches.list({ limit: 100 })).data.length;
    h.setFaults({ latencyMs: { ms: 400, nextN: 1, only: 'batches.create', lateEffect: true } });
    const create = () =>
      impatient.batches.create({
        input_file_id: b.input_file_id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
    await expect(create()).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    // Not yet: the effect comes when the wait ends, after the client stopped waiting.
    expect((await c.batches.list({ limit: 100 })).data.length).toBe(before);
    await new Promise((r) => setTimeout(r, 500));
    expect((await c.batches.list({ limit: 100 })).data.length).toBe(before + 1);
  });

  test('only restricts a fault to one route; rate 1 fails every matching call', async () => {
    h.setFaults({ rateLimit: { rate: 1, only: 'retrieve' } });
    await expect(c.batches.retrieve(batchId)).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(c.batches.retrieve(batchId)).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    expect((await c.batches.list()).data.length).toBeGreaterThan(0);
    expect((await c.files.list()).data.length).toBeGreaterThan(0);
    h.setFaults({ rateLimit: { rate: 1, only: ['files.list'] } });
    await expect(c.files.list()).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    expect((await c.batches.retrieve(batchId)).id).toBe(batchId);
  });

  test('a fractional rate is seeded: the same seed replays the same faults', async () => {
    const run = async () => {
      h.setFaults({ serverError: { rate: 0.5 }, seed: 42 });
      const out: boolean[] = [];
      for (let i = 0; i < 12; i++)
        out.push(
          await c.batches.retrieve(batchId).then(
            () => true,
            () => false,
          ),
        );
      return out;
    };
    const first = await run();
    expect(first).toContain(true);
    expect(first).toContain(false);
    expect(await run()).toEqual(first);
  });

  test('start-time faults and invalid fault configs', async () => {
    const h2 = await startManual({ faults: { rateLimit: { nextN: 1, only: 'files.list' } } });
    try {
      await expect(client(h2).files.list()).rejects.toBeInstanceOf(OpenAI.RateLimitError);
      expect(() => h2.setFaults({ rateLimit: { rate: 2 } })).toThrow();
    } finally {
      await h2.close();
    }
  });
});

import OpenAI from 'openai';
import type { EmulatorHandle } from '../../src/emulator';
import { client, createChatBatch, startManual } from './helpers';

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('admin endpoints and the call log', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  beforeAll(async () => {
    h = await startManual();
    c = client(h);
  });
  afterAll(() => h.close());

  test('POST /admin/advance moves the manual clock and settles batches', async () => {
    const b = await createChatBatch(c, 1);
    const before = h.now();
    const res = await post(`${h.adminUrl}/advance`, { seconds: 1000 });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { now: number }).now).toBe(before + 1000);
    expect(h.batch(b.id)?.state.status).toBe('completed');
    expect((await post(`${h.adminUrl}/advance`, { seconds: -1 })).status).toBe(400);
  });

  test('GET/POST /admin/faults read and replace the live config; admin is never faulted nor authenticated', async () => {
    const set = await post(`${h.adminUrl}/faults`, { serverError: { rate: 1 } });
    expect(set.status).toBe(200);
    expect(await (await fetch(`${h.adminUrl}/faults`)).json()).toEqual({ serverError: { rate: 1 } });
    await expect(c.batches.list()).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    expect((await fetch(`${h.adminUrl}/health`)).status).toBe(200);
    expect((await post(`${h.adminUrl}/faults`, { bogus: true })).status).toBe(400);
    expect((await post(`${h.adminUrl}/faults`, {})).status).toBe(200);
    expect(Array.isArray((await c.batches.list()).data)).toBe(true);
  });

  test('the call log records API calls (not admin ones) and can be cleared', async () => {
    const b = await createChatBatch(c, 2);
    expect((await fetch(`${h.adminUrl}/calls`, { method: 'DELETE' })).status).toBe(200);
    const t = Date.now();
    await c.batches.cancel(b.id);
    await c.batches.retrieve(b.id);
    await client(h, h.url, 'wrong')
      .batches.retrieve(b.id)
      .catch(() => undefined);
    await fetch(`${h.adminUrl}/health`);
    const { data } = (await (await fetch(`${h.adminUrl}/calls`)).json()) as {
      data: Record<string, unknown>[];
    };
    expect(data.map((x) => [x.method, x.path, x.route, x.status])).toEqual([
      ['POST', `/v1/batches/${b.id}/cancel`, 'batches.cancel', 200],
      ['GET', `/v1/batches/${b.id}`, 'batches.retrieve', 200],
      ['GET', `/v1/batches/${b.id}`, 'batches.retrieve', 401],
    ]);
    expect(data[0].at as number).toBeGreaterThanOrEqual(t);
    expect(data[0].clockAt).toBe(h.now());
    expect(h.calls().filter((x) => x.route === 'batches.cancel')).toHaveLength(1);
    h.clearCalls();
    expect(h.calls()).toEqual([]);
  });

  test('GET /admin/health reports the profile and clock', async () => {
    const health = (await (await fetch(`${h.adminUrl}/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', profile: 'openai', clock: 'manual', now: h.now() });
  });
});

import OpenAI from 'openai';
import type { EmulatorHandle } from '../../src/emulator';
import { chatLine, client, jsonl, KEY, startManual, upload } from './helpers';

describe('dashscope profile through compatible-mode/v1', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  beforeAll(async () => {
    h = await startManual({ profile: 'dashscope' });
    c = client(h, h.compatibleUrl);
  });
  afterAll(() => h.close());

  const create = async (window: string, metadata?: Record<string, string>) =>
    c.batches.create({
      input_file_id: await upload(c, [chatLine('a', 'x', 'qwen-plus'), chatLine('b', 'y', 'qwen-plus')]),
      endpoint: '/v1/chat/completions',
      completion_window: window as '24h',
      metadata,
    });

  test('unset timestamps are 0 and the batch has no usage', async () => {
    const b = await create('24h');
    expect(b).toMatchObject({
      in_progress_at: 0,
      completed_at: 0,
      failed_at: 0,
      cancelled_at: 0,
      expired_at: 0,
    });
    expect(b).not.toHaveProperty('usage');
    await h.advance(1000);
    const done = await c.batches.retrieve(b.id);
    expect(done).toMatchObject({ status: 'completed', failed_at: 0, cancelling_at: 0 });
    expect(done.completed_at).toBeGreaterThan(0);
    expect(done).not.toHaveProperty('usage');
    const out = await jsonl(c, done.output_file_id!);
    expect(out[0].response!.body.model).toBe('qwen-plus');
  });

  test('windows from 24h to 336h in whole hours; outside is 400', async () => {
    const b = await create('336h');
    expect(b.expires_at! - b.created_at).toBe(336 * 3600);
    expect((await create('48h')).expires_at! - h.now()).toBe(48 * 3600);
    await expect(create('337h')).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(create('12h')).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(create('36.5h')).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  test('/v1/responses is not a DashScope endpoint; ds_name over 100 chars is 400', async () => {
    const input_file_id = await upload(c, [chatLine('a', 'x', 'qwen-plus')]);
    await expect(
      c.batches.create({ input_file_id, endpoint: '/v1/responses', completion_window: '24h' }),
    ).rejects.toThrow(/Invalid endpoint/);
    await expect(create('24h', { ds_name: 'n'.repeat(101) })).rejects.toThrow(/ds_name/);
  });

  test('list filters by ds_name, status and create_after/create_before', async () => {
    const h2 = await startManual({ profile: 'dashscope', startTime: Date.UTC(2025, 0, 2, 3, 4, 5) / 1000 });
    try {
      const c2 = client(h2, h2.compatibleUrl);
      const mk = async (name: string) =>
        c2.batches.create({
          input_file_id: await upload(c2, [chatLine('a', 'x', 'qwen-plus')]),
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: { ds_name: name },
        });
      const a = await mk('nightly-eval');
      await h2.advance(3600);
      const b = await mk('adhoc');
      await h2.advance(5); // a has completed, b is still validating
      const list = async (q: Record<string, string>) =>
        (await c2.batches.list(q as never)).data.map((x) => x.id);
      expect(await list({ ds_name: 'nightly' })).toEqual([a.id]);
      expect(await list({ status: 'validating' })).toEqual([b.id]);
      expect(await list({ status: 'completed,validating' })).toEqual([b.id, a.id]);
      expect(await list({ create_after: '20250102040000' })).toEqual([b.id]);
      expect(await list({ create_before: '20250102040000' })).toEqual([a.id]);
      const bad = await fetch(`${h2.compatibleUrl}/batches?create_after=2025`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      expect(bad.status).toBe(400);
    } finally {
      await h2.close();
    }
  });

  test('404 uses the resource_not_found code', async () => {
    const e = await c.batches.retrieve('batch_x').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.NotFoundError);
    expect((e as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('resource_not_found');
  });
});

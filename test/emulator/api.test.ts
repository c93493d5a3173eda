import OpenAI, { toFile } from 'openai';
import type { EmulatorHandle } from '../../src/emulator';
import { chatLine, client, createChatBatch, KEY, startManual, upload } from './helpers';

describe('files, batches and errors as the openai SDK sees them', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  beforeAll(async () => {
    h = await startManual();
    c = client(h);
  });
  afterAll(() => h.close());

  test('files: create, retrieve, content, list, delete', async () => {
    const text = `${JSON.stringify(chatLine('a', 'hello'))}\n`;
    const f = await c.files.create({ file: await toFile(Buffer.from(text), 'in.jsonl'), purpose: 'batch' });
    expect(f).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'in.jsonl',
      bytes: Buffer.byteLength(text),
    });
    expect(f.id).toMatch(/^file-/);
    expect(await c.files.retrieve(f.id)).toMatchObject({ id: f.id, bytes: f.bytes });
    expect(await (await c.files.content(f.id)).text()).toBe(text);

    const g = await upload(c, [chatLine('b', 'x')]);
    const listed = [];
    for await (const file of c.files.list({ limit: 1 })) listed.push(file.id);
    expect(listed.slice(0, 2)).toEqual([g, f.id]); // newest first, paged one at a time

    expect(await c.files.delete(f.id)).toMatchObject({ id: f.id, deleted: true });
    await expect(c.files.retrieve(f.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('files: a purpose other than batch is 400', async () => {
    const e = await c.files
      .create({ file: await toFile(Buffer.from('x'), 'a.txt'), purpose: 'assistants' })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect((e as Error).message).toContain("Invalid purpose 'assistants'");
  });

  test('uploads over maxUploadBytes are refused with 413 and leave no file behind', async () => {
    const h2 = await startManual({ maxUploadBytes: 100 });
    try {
      const c2 = client(h2);
      const e = await c2.files
        .create({ file: await toFile(Buffer.alloc(5000, 'x'), 'big.jsonl'), purpose: 'batch' })
        .catch((err: unknown) => err);
      expect(e).toBeInstanceOf(OpenAI.APIError);
      expect((e as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
      expect((await c2.files.list()).data).toEqual([]);
      expect(
        (await c2.files.create({ file: await toFile(Buffer.from('{}'), 'ok.jsonl'), purpose: 'batch' }))
          .bytes,
      ).toBe(2);
    } finally {
      await h2.close();
    }
  });

  test('unknown ids are 404 NotFoundError in the provider error shape', async () => {
    const e = await c.batches.retrieve('batch_nope').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.NotFoundError);
    expect((e as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({
      code: 'not_found',
      type: 'invalid_request_error',
    });
    await expect(c.files.content('file-nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(c.batches.cancel('batch_nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(
      c.batches.create({
        input_file_id: 'file-nope',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('missing or wrong key is 401 AuthenticationError with code invalid_api_key', async () => {
    const bad = client(h, h.url, 'sk-wrong');
    const e = await bad.batches.list().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((e as InstanceType<typeof OpenAI.AuthenticationError>).error).toMatchObject({
      code: 'invalid_api_key',
      type: 'invalid_request_error',
      param: null,
    });
    const res = await fetch(`${h.url}/batches`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /^Incorrect API key provided/,
    );
  });

  test('malformed create requests are 400 naming the problem', async () => {
    const input_file_id = await upload(c, [chatLine('a', 'x')]);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ endpoint: '/v1/chat/completions', completion_window: '24h' }, /input_file_id/],
      [{ input_file_id, endpoint: '/v1/nope', completion_window: '24h' }, /Invalid endpoint '\/v1\/nope'/],
      [
        { input_file_id, endpoint: '/v1/chat/completions', completion_window: '48h' },
        /completion_window '48h'/,
      ],
      [
        {
          input_file_id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: { k: 'v'.repeat(513) },
        },
        /longer than 512/,
      ],
      [
        {
          input_file_id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])),
        },
        /at most 16 pairs/,
      ],
    ];
    for (const [body, msg] of cases) {
      const e = await c.batches.create(body as never).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(OpenAI.BadRequestError);
      expect((e as Error).message).toMatch(msg);
    }
    const raw = await fetch(`${h.url}/batches`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: '{"input_file_id": ',
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { message: string } }).error.message).toMatch(
      /parse the JSON body/,
    );
  });

  test('batches.list pages with after/limit, newest first, and for-await walks every page', async () => {
    const h2 = await startManual();
    try {
      const c2 = client(h2);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await createChatBatch(c2, 1)).id);
      const newest = [...ids].reverse();
      const page = await c2.batches.list({ limit: 2 });
      expect(page.data.map((b) => b.id)).toEqual(newest.slice(0, 2));
      expect(page.has_more).toBe(true);
      const raw = (await await fetch(`${h2.url}/batches?limit=2&after=${newest[1]}`, {
        headers: { authorization: `Bearer ${KEY}` },
      }).then((r) => r.json())) as { first_id: string; last_id: string; has_more: boolean };
      expect(raw).toMatchObject({ first_id: newest[2], last_id: newest[3], has_more: true });
      const all: string[] = [];
      for await (const b of c2.batches.list({ limit: 2 })) all.push(b.id);
      expect(all).toEqual(newest);
      await expect(c2.batches.list({ limit: 101 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    } finally {
      await h2.close();
    }
  });

  test('unknown routes are 404 in the provider shape', async () => {
    const res = await fetch(`${h.url}/nothing-here`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      'Invalid URL (GET /v1/nothing-here)',
    );
  });
});

describe('a provider without file listing (fileListing option)', () => {
  test.each([404, 405, 501] as const)(
    'GET /files answers %i in the provider error shape; the other file routes still work',
    async (status) => {
      const h = await startManual({ fileListing: status });
      try {
        const c = client(h);
        const id = await upload(c, [chatLine('a', 'x')]);
        const e = await c.files.list().catch((err: unknown) => err);
        expect(e).toBeInstanceOf(OpenAI.APIError);
        expect((e as InstanceType<typeof OpenAI.APIError>).status).toBe(status);
        expect(await c.files.retrieve(id)).toMatchObject({ id });
        expect(h.calls().map((x) => `${x.route}:${x.status}`)).toEqual([
          'files.create:200',
          `files.list:${status}`,
          'files.retrieve:200',
        ]);
        const health = (await (await fetch(`${h.adminUrl}/health`)).json()) as { files: number };
        expect(health.files).toBe(1);
      } finally {
        await h.close();
      }
    },
  );
});

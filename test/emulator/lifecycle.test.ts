import type OpenAI from 'openai';
import type { EmulatorHandle } from '../../src/emulator';
import { requestFails } from '../../src/emulator';
import { chatLine, client, createChatBatch, jsonl, startManual, upload } from './helpers';

const T0 = 1_700_000_000;

describe('batch lifecycle under the manual clock', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  beforeAll(async () => {
    h = await startManual();
    c = client(h);
  });
  afterAll(() => h.close());

  test('validating -> in_progress (counts advance) -> finalizing -> completed, with downloadable output', async () => {
    const created = await createChatBatch(c, 4, { metadata: { job: 'wf-1' } });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      created_at: T0,
      expires_at: T0 + 86400,
      in_progress_at: null,
      output_file_id: null,
      error_file_id: null,
      errors: null,
      metadata: { job: 'wf-1' },
      request_counts: { total: 0, completed: 0, failed: 0 },
    });
    const id = created.id;

    await h.advance(9);
    expect((await c.batches.retrieve(id)).status).toBe('validating');

    await h.advance(1); // t = 10: validated, nothing has run yet
    let b = await c.batches.retrieve(id);
    expect(b).toMatchObject({
      status: 'in_progress',
      in_progress_at: T0 + 10,
      request_counts: { total: 4, completed: 0 },
    });

    await h.advance(11); // t = 21: two requests of 5 s each done
    b = await c.batches.retrieve(id);
    expect(b.request_counts).toEqual({ total: 4, completed: 2, failed: 0 });
    expect(b.usage?.input_tokens).toBeGreaterThan(0);

    await h.advance(9); // t = 30: all four done -> finalizing
    b = await c.batches.retrieve(id);
    expect(b).toMatchObject({ status: 'finalizing', finalizing_at: T0 + 30, completed_at: null });
    expect(b.request_counts).toEqual({ total: 4, completed: 4, failed: 0 });

    await h.advance(20); // t = 50
    b = await c.batches.retrieve(id);
    expect(b).toMatchObject({ status: 'completed', completed_at: T0 + 50, error_file_id: null });
    expect(b.output_file_id).toMatch(/^file-/);

    const out = await jsonl(c, b.output_file_id!);
    expect(out.map((l) => l.custom_id).sort()).toEqual(['req-0', 'req-1', 'req-2', 'req-3']);
    for (const line of out) {
      expect(line).toMatchObject({ response: { status_code: 200 }, error: null });
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.response?.request_id).toMatch(/^req_/);
      const body = line.response!.body;
      expect(body.object).toBe('chat.completion');
      expect(body.model).toBe('gpt-4o-mini');
      const n = String(line.custom_id).split('-')[1];
      expect(body.choices[0].message.content).toContain(`question number ${n}`);
    }
    // The batch usage is the sum of the output lines' usage.
    const sum = (k: string) => out.reduce((s, l) => s + (l.response!.body.usage[k] as number), 0);
    expect(b.usage).toMatchObject({
      input_tokens: sum('prompt_tokens'),
      output_tokens: sum('completion_tokens'),
      total_tokens: sum('total_tokens'),
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    });
    const file = await c.files.retrieve(b.output_file_id!);
    expect(file).toMatchObject({ purpose: 'batch_output', object: 'file' });
  });

  test('failureRate sends the hashed custom_ids to the error file; output null when nothing succeeded', async () => {
    const h2 = await startManual({ failureRate: 0.5 });
    try {
      const c2 = client(h2);
      const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
      const failing = ids.filter((id) => requestFails(id, 0.5));
      expect(failing.length).toBeGreaterThan(0);
      expect(failing.length).toBeLessThan(20);
      const input_file_id = await upload(
        c2,
        ids.map((id) => chatLine(id, 'hi')),
      );
      const b0 = await c2.batches.create({
        input_file_id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      await h2.advance(10 + 20 * 5 + 20);
      const b = await c2.batches.retrieve(b0.id);
      expect(b.status).toBe('completed');
      expect(b.request_counts).toEqual({ total: 20, completed: 20 - failing.length, failed: failing.length });
      const errs = await jsonl(c2, b.error_file_id!);
      expect(errs.map((e) => e.custom_id).sort()).toEqual([...failing].sort());
      expect(errs[0]).toMatchObject({ response: { status_code: 500 }, error: { code: 'server_error' } });
      const out = await jsonl(c2, b.output_file_id!);
      expect(out).toHaveLength(20 - failing.length);

      // Every request failing: completed, no output file, only an error file.
      const h3 = await startManual({ failureRate: 1 });
      try {
        const c3 = client(h3);
        const b3 = await createChatBatch(c3, 3);
        await h3.advance(1000);
        const done = await c3.batches.retrieve(b3.id);
        expect(done).toMatchObject({
          status: 'completed',
          output_file_id: null,
          request_counts: { failed: 3, completed: 0 },
        });
        expect(done.usage?.total_tokens).toBe(0);
        expect(await jsonl(c3, done.error_file_id!)).toHaveLength(3);
      } finally {
        await h3.close();
      }
    } finally {
      await h2.close();
    }
  });

  test('embeddings and responses endpoints produce their own body shapes', async () => {
    const emb = await upload(c, [
      {
        custom_id: 'e1',
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'text-embedding-3-small', input: 'hello' },
      },
      {
        custom_id: 'e2',
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'text-embedding-3-small', input: ['a', 'b'] },
      },
    ]);
    const resp = await upload(c, [
      { custom_id: 'r1', method: 'POST', url: '/v1/responses', body: { model: 'gpt-4.1', input: 'say hi' } },
    ]);
    const be = await c.batches.create({
      input_file_id: emb,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
    });
    const br = await c.batches.create({
      input_file_id: resp,
      endpoint: '/v1/responses',
      completion_window: '24h',
    });
    await h.advance(1000);
    const e = await jsonl(c, (await c.batches.retrieve(be.id)).output_file_id!);
    const e1 = e.find((l) => l.custom_id === 'e1')!.response!.body;
    expect(e1.object).toBe('list');
    expect(e1.data[0].embedding).toHaveLength(8);
    expect(e1.usage.prompt_tokens).toBeGreaterThan(0);
    expect(e.find((l) => l.custom_id === 'e2')!.response!.body.data).toHaveLength(2);
    const r = await jsonl(c, (await c.batches.retrieve(br.id)).output_file_id!);
    expect(r[0].response!.body).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4.1' });
    expect(r[0].response!.body.output[0].content[0].text).toContain('say hi');
    expect(r[0].response!.body.usage.total_tokens).toBeGreaterThan(0);
  });
});

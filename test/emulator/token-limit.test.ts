import type OpenAI from 'openai';
import { requestTokens } from '../../activities/tokens/estimate';
import type { EmulatorHandle } from '../../src/emulator';
import { chatLine, client, startManual, upload } from './helpers';

/** Lines whose tokens are known by the same tokenizer the emulator uses for gpt-4o-mini (o200k_base). */
const lines = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => chatLine(`${prefix}-${i}`, `Say something about number ${i}.`));
const tokensOf = (ls: ReturnType<typeof lines>) =>
  ls.reduce((t, l) => t + requestTokens('tiktoken:o200k_base', '/v1/chat/completions', l.body), 0);

describe('enqueued-token limit per model', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  afterEach(() => h.close());

  async function create(ls: object[]) {
    const input_file_id = await upload(c, ls);
    return c.batches.create({ input_file_id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  }

  test('a batch that would pass the limit fails at validation with OpenAI shape; one that fits later runs', async () => {
    const a = lines('a', 4);
    const per = tokensOf(a);
    // Room for two such batches, not three.
    h = await startManual({ enqueuedTokenLimit: { 'gpt-4o-mini': per * 2 + 1 } });
    c = client(h);
    const b1 = await create(a);
    const b2 = await create(lines('b', 4));
    const b3 = await create(lines('c', 4));
    await h.advance(10);
    const [r1, r2, r3] = await Promise.all([b1, b2, b3].map((b) => c.batches.retrieve(b.id)));
    expect([r1.status, r2.status, r3.status]).toEqual(['in_progress', 'in_progress', 'failed']);
    expect(r3.failed_at).toBe(Math.floor(h.now()));
    expect(r3.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(r3.errors).toEqual({
      object: 'list',
      data: [
        {
          code: 'token_limit_exceeded',
          message:
            `Enqueued token limit reached for gpt-4o-mini in organization org-emulator. ` +
            `Limit: ${(per * 2 + 1).toLocaleString('en-US')} enqueued tokens. Please try submitting your batch again later.`,
          param: null,
          line: null,
        },
      ],
    });
    // Once the first two finished (4 requests x 5 s + finalizing), their tokens are free again.
    await h.advance(60);
    expect((await c.batches.retrieve(b1.id)).status).toBe('completed');
    const b4 = await create(lines('d', 4));
    await h.advance(10);
    expect((await c.batches.retrieve(b4.id)).status).toBe('in_progress');
  });

  test('other models and a cancelled batch do not hold the limit', async () => {
    const a = lines('a', 4);
    h = await startManual({ enqueuedTokenLimit: { 'gpt-4o-mini': tokensOf(a) } });
    c = client(h);
    const first = await create(a);
    const other = await create(
      Array.from({ length: 40 }, (_, i) => chatLine(`o-${i}`, 'unlimited model', 'gpt-4.1')),
    );
    await h.advance(10);
    expect((await c.batches.retrieve(first.id)).status).toBe('in_progress');
    expect((await c.batches.retrieve(other.id)).status).toBe('in_progress');
    await c.batches.cancel(first.id);
    await h.advance(60);
    expect((await c.batches.retrieve(first.id)).status).toBe('cancelled');
    const next = await create(lines('n', 4));
    await h.advance(10);
    expect((await c.batches.retrieve(next.id)).status).toBe('in_progress');
  });

  test('without the option nothing is limited', async () => {
    h = await startManual();
    c = client(h);
    const big = await create(lines('x', 200));
    await h.advance(10);
    expect((await c.batches.retrieve(big.id)).status).toBe('in_progress');
  });
});

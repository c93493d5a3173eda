import type OpenAI from 'openai';
import type { EmulatorHandle } from '../../src/emulator';
import { client, createChatBatch, jsonl, startManual } from './helpers';

const T0 = 1_700_000_000;

describe('cancel and expiry', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  beforeEach(async () => {
    h = await startManual();
    c = client(h);
  });
  afterEach(() => h.close());

  test('cancel mid-run: cancelling while the in-flight request finishes, then cancelled with partial output', async () => {
    const b = await createChatBatch(c, 10);
    await h.advance(10 + 12); // 2 requests done, the 3rd is running
    expect((await c.batches.retrieve(b.id)).request_counts!.completed).toBe(2);

    const cancelling = await c.batches.cancel(b.id);
    expect(cancelling).toMatchObject({ status: 'cancelling', cancelling_at: T0 + 22, cancelled_at: null });

    // Cancelling again while cancelling returns the batch unchanged.
    await h.advance(5);
    const again = await c.batches.cancel(b.id);
    expect(again).toMatchObject({ status: 'cancelling', cancelling_at: T0 + 22 });
    expect(again.request_counts!.completed).toBe(3);

    await h.advance(25); // t = 52 = cancelling_at + 30
    const done = await c.batches.retrieve(b.id);
    expect(done).toMatchObject({
      status: 'cancelled',
      cancelling_at: T0 + 22,
      cancelled_at: T0 + 52,
      in_progress_at: T0 + 10,
      finalizing_at: null,
      request_counts: { total: 10, completed: 3, failed: 0 },
    });
    const out = await jsonl(c, done.output_file_id!);
    expect(out.map((l) => l.custom_id)).toEqual(['req-0', 'req-1', 'req-2']);
    const errs = await jsonl(c, done.error_file_id!);
    expect(errs).toHaveLength(7);
    expect(errs.every((e) => e.response === null && e.error?.code === 'batch_cancelled')).toBe(true);
    // The requests never run do not appear in both files.
    expect(new Set([...out, ...errs].map((l) => l.custom_id)).size).toBe(10);
    expect(done.usage?.output_tokens).toBeGreaterThan(0);

    // Counts stay frozen after cancellation.
    await h.advance(1000);
    expect((await c.batches.retrieve(b.id)).request_counts!.completed).toBe(3);
  });

  test('cancel during validating: nothing ran, every request is in the error file', async () => {
    const b = await createChatBatch(c, 3);
    const r = await c.batches.cancel(b.id);
    expect(r.status).toBe('cancelling');
    await h.advance(30);
    const done = await c.batches.retrieve(b.id);
    expect(done).toMatchObject({ status: 'cancelled', output_file_id: null, in_progress_at: null });
    expect(done.request_counts).toEqual({ total: 3, completed: 0, failed: 0 });
    expect((await jsonl(c, done.error_file_id!)).map((e) => e.error?.code)).toEqual([
      'batch_cancelled',
      'batch_cancelled',
      'batch_cancelled',
    ]);
  });

  test('cancelling a terminal batch is refused with 400 and the status in the message', async () => {
    const b = await createChatBatch(c, 1);
    await h.advance(1000);
    expect((await c.batches.retrieve(b.id)).status).toBe('completed');
    const err = await c.batches.cancel(b.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf((await import('openai')).default.BadRequestError);
    expect((err as { status: number }).status).toBe(400);
    expect((err as Error).message).toContain("Cannot cancel a batch with status 'completed'.");
    expect((await c.batches.retrieve(b.id)).status).toBe('completed');
  });

  test('expiry: expired at expires_at, partial output, batch_expired lines for the rest', async () => {
    const h2 = await startManual({ requestSeconds: 30_000 }); // only 2 of 5 requests finish within 24 h
    try {
      const c2 = client(h2);
      const b = await createChatBatch(c2, 5);
      await h2.advance(86_399);
      expect((await c2.batches.retrieve(b.id)).status).toBe('in_progress');
      await h2.advance(1);
      const done = await c2.batches.retrieve(b.id);
      expect(done).toMatchObject({
        status: 'expired',
        expired_at: T0 + 86_400,
        completed_at: null,
        finalizing_at: null,
        request_counts: { total: 5, completed: 2, failed: 0 },
      });
      expect((await jsonl(c2, done.output_file_id!)).map((l) => l.custom_id)).toEqual(['req-0', 'req-1']);
      const errs = await jsonl(c2, done.error_file_id!);
      expect(errs.map((e) => [e.custom_id, e.response, e.error?.code])).toEqual([
        ['req-2', null, 'batch_expired'],
        ['req-3', null, 'batch_expired'],
        ['req-4', null, 'batch_expired'],
      ]);
      // Expired is terminal: cancel is refused.
      await expect(c2.batches.cancel(b.id)).rejects.toThrow("Cannot cancel a batch with status 'expired'.");
    } finally {
      await h2.close();
    }
  });
});

import type OpenAI from 'openai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmulatorHandle } from '../../src/emulator';
import { client, createChatBatch, startManual } from './helpers';

// An emulator started again on the same dataDir is a provider that restarted: what it announced before
// (files, batches, cancels, result files, its clock) is still there, and running batches carry on.
describe('restart on the same dataDir', () => {
  let dir: string;
  const open: EmulatorHandle[] = [];
  const start = async () => {
    const h = await startManual({ dataDir: dir });
    open.push(h);
    return h;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bk-emu-restart-'));
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('files, batches, cancels, result files and the clock survive; running batches finish after it', async () => {
    const first = await start();
    const c1 = client(first);
    const done = await createChatBatch(c1, 3);
    const running = await createChatBatch(c1, 40);
    const cancelled = await createChatBatch(c1, 40);
    await first.advance(60);
    await c1.batches.cancel(cancelled.id);
    await first.advance(5);
    const before = await c1.batches.retrieve(done.id);
    expect(before.status).toBe('completed');
    const runningBefore = await c1.batches.retrieve(running.id);
    expect(runningBefore.status).toBe('in_progress');
    const served = createHash('sha256')
      .update(Buffer.from(await (await c1.files.content(before.output_file_id!)).arrayBuffer()))
      .digest('hex');
    await c1.files.delete(done.input_file_id);
    const clockAt = first.now();
    await first.close();

    const second = await start();
    const c2 = client(second);
    expect(second.now()).toBe(clockAt);
    expect(await c2.batches.retrieve(done.id)).toEqual(before);
    expect(await c2.batches.retrieve(running.id)).toEqual(runningBefore);
    expect((await c2.batches.retrieve(cancelled.id)).status).toBe('cancelling');
    const listed = (await c2.batches.list()).data.map((b) => b.id);
    expect(listed).toEqual([cancelled.id, running.id, done.id]);
    // The deleted input is gone for clients and kept as a tombstone; the served output hashes the same.
    await expect(c2.files.retrieve(done.input_file_id)).rejects.toMatchObject({ status: 404 });
    const history = second.files();
    expect(history.find((f) => f.id === done.input_file_id)?.deletedAt).toBe(clockAt);
    expect(history.find((f) => f.id === before.output_file_id)?.sha256).toBe(served);
    const again = Buffer.from(await (await c2.files.content(before.output_file_id!)).arrayBuffer());
    expect(createHash('sha256').update(again).digest('hex')).toBe(served);

    await second.advance(1000);
    const finished = await c2.batches.retrieve(running.id);
    expect(finished.status).toBe('completed');
    expect(finished.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
    expect((await c2.batches.retrieve(cancelled.id)).status).toBe('cancelled');
    // New ids never collide with restored ones, and list order stays newest first.
    const newer = await createChatBatch(c2, 1);
    expect((await c2.batches.list()).data[0].id).toBe(newer.id);
  });

  test('a batch whose validation was not recorded yet is validated again after the restart', async () => {
    const first = await start();
    const b = await createChatBatch(client(first), 5);
    await first.close();
    // As if the process died before the validation result was written.
    writeFileSync(join(dir, 'state', 'batches', `${b.id}.json`), JSON.stringify(storedWithoutValidation(b)));
    const second = await start();
    await second.advance(1000);
    const after = await client(second).batches.retrieve(b.id);
    expect(after.status).toBe('completed');
    expect(after.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
  });
});

function storedWithoutValidation(b: OpenAI.Batches.Batch) {
  return {
    id: b.id,
    seq: 0,
    endpoint: b.endpoint,
    inputFileId: b.input_file_id,
    completionWindow: b.completion_window,
    metadata: null,
    createdAt: b.created_at,
    expiresAt: b.expires_at,
    timing: { validatingSeconds: 10, requestSeconds: 5, finalizingSeconds: 20, cancellingSeconds: 30 },
    failureRate: 0,
  };
}

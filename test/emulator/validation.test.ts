import type OpenAI from 'openai';
import type { EmulatorHandle, EmulatorOptions } from '../../src/emulator';
import { chatLine, client, startManual, upload } from './helpers';

const T0 = 1_700_000_000;

/** Uploads the lines, creates a batch, lets validation run and returns the failed batch's errors. */
async function failWith(
  c: OpenAI,
  h: EmulatorHandle,
  lines: (object | string)[],
  endpoint = '/v1/chat/completions',
) {
  const input_file_id = await upload(c, lines);
  const created = await c.batches.create({
    input_file_id,
    endpoint: endpoint as '/v1/chat/completions',
    completion_window: '24h',
  });
  expect(created.status).toBe('validating');
  await h.advance(10);
  const b = await c.batches.retrieve(created.id);
  expect(b.status).toBe('failed');
  expect(b.failed_at).toBe(Math.floor(h.now()));
  expect(b.in_progress_at).toBeNull();
  expect(b.output_file_id).toBeNull();
  expect(b.errors?.object).toBe('list');
  return b.errors!.data!;
}

describe('input validation while validating', () => {
  let h: EmulatorHandle;
  let c: OpenAI;
  const start = async (opts: EmulatorOptions = {}) => {
    h = await startManual(opts);
    c = client(h);
  };
  afterEach(() => h.close());

  test('invalid_json_line names the 1-based line', async () => {
    await start();
    const errs = await failWith(c, h, [chatLine('a', 'x'), '{"custom_id": "b", oops', chatLine('c', 'y')]);
    expect(errs).toEqual([expect.objectContaining({ code: 'invalid_json_line', line: 2 })]);
    expect(errs[0].message).toContain('Line 2');
  });

  test('duplicate_custom_id points at the second occurrence', async () => {
    await start();
    const errs = await failWith(c, h, [chatLine('a', 'x'), chatLine('b', 'y'), chatLine('a', 'z')]);
    expect(errs).toEqual([
      expect.objectContaining({ code: 'duplicate_custom_id', line: 3, param: 'custom_id' }),
    ]);
  });

  test('url_mismatch when a line targets another endpoint', async () => {
    await start();
    const errs = await failWith(c, h, [
      chatLine('a', 'x'),
      chatLine('b', 'y', 'gpt-4o-mini', '/v1/embeddings'),
    ]);
    expect(errs).toEqual([expect.objectContaining({ code: 'url_mismatch', line: 2, param: 'url' })]);
  });

  test('model_mismatch when the file mixes models', async () => {
    await start();
    const errs = await failWith(c, h, [
      chatLine('a', 'x', 'm1'),
      chatLine('b', 'x', 'm1'),
      chatLine('c', 'y', 'm2'),
    ]);
    expect(errs).toEqual([expect.objectContaining({ code: 'model_mismatch', line: 3 })]);
  });

  test('empty_file for a file without requests (blank lines do not count)', async () => {
    await start();
    const errs = await failWith(c, h, ['', '   ']);
    expect(errs).toEqual([expect.objectContaining({ code: 'empty_file', line: null })]);
  });

  test('too_many_tasks at the first line over maxLines', async () => {
    await start({ maxLines: 3 });
    const errs = await failWith(
      c,
      h,
      ['a', 'b', 'c', 'd', 'e'].map((id) => chatLine(id, 'x')),
    );
    expect(errs).toEqual([expect.objectContaining({ code: 'too_many_tasks', line: 4 })]);
  });

  test('file_too_large when the input exceeds maxFileBytes', async () => {
    await start({ maxFileBytes: 200 });
    const errs = await failWith(
      c,
      h,
      ['a', 'b', 'c'].map((id) => chatLine(id, 'x'.repeat(50))),
    );
    expect(errs).toEqual([expect.objectContaining({ code: 'file_too_large', line: null })]);
  });

  test('line_too_large when one line exceeds maxLineBytes', async () => {
    await start({ maxLineBytes: 150 });
    const errs = await failWith(c, h, [
      chatLine('a', 'x'),
      chatLine('b', 'y'.repeat(200)),
      chatLine('c', 'z'),
    ]);
    expect(errs).toEqual([expect.objectContaining({ code: 'line_too_large', line: 2 })]);
  });

  test('several problems are all reported, in line order', async () => {
    await start();
    const errs = await failWith(c, h, [
      chatLine('a', 'x'),
      'not json',
      chatLine('a', 'dup'),
      { custom_id: 'd', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } },
    ]);
    expect(errs.map((e) => [e.code, e.line])).toEqual([
      ['invalid_json_line', 2],
      ['duplicate_custom_id', 3],
      ['missing_required_parameter', 4],
    ]);
    expect(errs[2].param).toBe('body.model');
  });

  test('validation that succeeds sets in_progress_at at the end of the validating window', async () => {
    await start();
    const input_file_id = await upload(c, [chatLine('a', 'x')]);
    const b = await c.batches.create({
      input_file_id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await h.advance(10);
    const r = await c.batches.retrieve(b.id);
    expect(r).toMatchObject({
      status: 'in_progress',
      in_progress_at: T0 + 10,
      errors: null,
      failed_at: null,
    });
  });
});

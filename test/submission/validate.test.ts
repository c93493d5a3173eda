// validateSubmission: line-numbered problems, bare-body wrapping and splitting, against the real emulator.
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { startsNewChunk } from '../../activities/submission/split';
import { readRequestLine, generatedId } from '../../activities/submission/wrap';
import { KEY, client, upload } from '../emulator/helpers';
import { ENDPOINT, chat, failure, harness, idOf, writeJsonl, type Harness } from './helpers';

let emu: EmulatorHandle;
let ds: EmulatorHandle;
let h: Harness;

beforeAll(async () => {
  emu = await startEmulator({ clock: 'manual', apiKey: KEY, startTime: 1_700_000_000 });
  ds = await startEmulator({ clock: 'manual', apiKey: KEY, profile: 'dashscope', startTime: 1_700_000_000 });
  h = await harness({ emu: { emu, kind: 'openai' }, ds: { emu: ds, kind: 'dashscope' } });
});
afterAll(async () => {
  await emu?.close();
  await ds?.close();
  await h?.close();
});

const base = (path: string, extra: object = {}) => ({
  provider: 'emu',
  submissionId: `wf-${path.split('/').pop()}`,
  source: { path },
  endpoint: ENDPOINT,
  ...extra,
});

describe('line problems', () => {
  test('every kind of bad line is reported with its source line number', async () => {
    const path = await writeJsonl(join(h.dir, 'bad.jsonl'), [
      chat('a', 'fine'), // 1
      'not json {', // 2
      '[1, 2]', // 3
      { method: 'POST', url: ENDPOINT, body: { model: 'gpt-4o-mini' } }, // 4
      chat('a', 'again'), // 5
      { ...chat('b', 'x'), method: 'GET' }, // 6
      { ...chat('c', 'x'), url: '/v1/embeddings' }, // 7
      chat('d', 'x', 'gpt-4o'), // 8
      '', // 9: blank, skipped
      { messages: [{ role: 'user', content: 'bare without model' }] }, // 10
      chat('e', 'y'.repeat(300)), // 11: over maxLineBytes
      { ...chat('f', 'x'), custom_id: 123 }, // 12
      { custom_id: 'g', method: 'PUT', url: ENDPOINT }, // 13: two problems on one line
    ]);
    const res = await h.run(h.acts.validateSubmission, {
      ...base(path),
      limits: { maxLineBytes: 200 },
      failOnProblems: false,
    });
    expect(res.ok).toBe(false);
    expect(res.problems.map((p) => [p.line, p.code])).toEqual([
      [2, 'invalid_json_line'],
      [3, 'invalid_json_line'],
      [4, 'missing_custom_id'],
      [5, 'duplicate_custom_id'],
      [6, 'method_not_post'],
      [7, 'url_mismatch'],
      [8, 'model_mismatch'],
      [10, 'missing_model'],
      [11, 'line_too_large'],
      [12, 'invalid_custom_id'],
      [13, 'method_not_post'],
      [13, 'missing_body'],
    ]);
    expect(res.problemCount).toBe(12);
    expect(res.lines).toBe(12);
    expect(res.chunks).toEqual([]);
    expect(res.problems[0].message).toMatch(/^line 2: not valid JSON/);
    // Nothing staged for a submission that will not be uploaded.
    await expect(readdir(join(h.dir, 'staging'))).rejects.toThrow();
  });

  test('by default problems fail the activity: non-retryable InvalidSubmission with details', async () => {
    const path = await writeJsonl(join(h.dir, 'bad2.jsonl'), [chat('a', 'x'), 'oops', chat('a', 'y')]);
    const f = await failure(h.run(h.acts.validateSubmission, base(path)));
    expect(f.type).toBe('InvalidSubmission');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/2 problem\(s\): invalid_json_line \(line 2: .*duplicate_custom_id \(line 3: /);
    const details = f.details?.[0] as { problems: { line: number }[]; problemCount: number };
    expect(details.problemCount).toBe(2);
    expect(details.problems.map((p) => p.line)).toEqual([2, 3]);
  });

  test('the problem list is bounded at 100, the count is not', async () => {
    const lines = Array.from({ length: 150 }, (_, i) => (i === 0 ? chat('ok', 'x') : `bad line ${i}`));
    const path = await writeJsonl(join(h.dir, 'many.jsonl'), lines);
    const res = await h.run(h.acts.validateSubmission, { ...base(path), failOnProblems: false });
    expect(res.problems).toHaveLength(100);
    expect(res.problemCount).toBe(149);
    expect(res.problems[99].line).toBe(101);
  });

  test('empty and blank-only files; a missing source', async () => {
    const empty = await writeJsonl(join(h.dir, 'empty.jsonl'), []);
    const blank = await writeJsonl(join(h.dir, 'blank.jsonl'), ['', '   ', '']);
    for (const path of [empty, blank]) {
      const res = await h.run(h.acts.validateSubmission, { ...base(path), failOnProblems: false });
      expect(res.problems.map((p) => [p.line, p.code])).toEqual([[null, 'empty_file']]);
    }
    const missing = await h.run(h.acts.validateSubmission, {
      ...base(join(h.dir, 'nope.jsonl')),
      failOnProblems: false,
    });
    expect(missing.problems[0].code).toBe('source_not_found');
  });
});

describe('encoding', () => {
  test('invalid UTF-8 is an invalid_utf8 problem naming its line, found before anything reaches the provider', async () => {
    const path = join(h.dir, 'latin1.jsonl');
    const line = (id: string, content: Buffer) =>
      Buffer.concat([
        Buffer.from(
          `{"custom_id":"${id}","method":"POST","url":"${ENDPOINT}","body":{"model":"gpt-4o-mini",`,
        ),
        Buffer.from('"messages":[{"role":"user","content":"'),
        content,
        Buffer.from('"}]}}\n'),
      ]);
    // Line 1 puts a valid two-byte character across the reader's 256 KB chunk boundary: decoding is per line.
    const prefix = line('a', Buffer.alloc(0)).indexOf('"}]}}');
    const straddle = Buffer.concat([Buffer.alloc(256 * 1024 - prefix - 1, 'x'), Buffer.from('é')]);
    await writeFile(
      path,
      Buffer.concat([
        line('a', straddle),
        line('b', Buffer.from('café, naïve')), // 2: valid UTF-8
        line('c', Buffer.from([0x63, 0x61, 0x66, 0xe9])), // 3: 'café' in Latin-1
        line('d', Buffer.from('fine')),
      ]),
    );
    emu.clearCalls();
    const f = await failure(h.run(h.acts.validateSubmission, base(path)));
    expect(f.type).toBe('InvalidSubmission');
    const details = f.details?.[0] as { problems: { line: number; code: string }[] };
    expect(details.problems.map((p) => [p.line, p.code])).toEqual([[3, 'invalid_utf8']]);
    expect(f.message).toMatch(/invalid_utf8 \(line 3: /);
    expect(emu.calls()).toEqual([]);
  });
});

describe('limit overrides', () => {
  test("may only tighten the provider's limits: above them is a problem naming the limit and the provider's value", async () => {
    const path = await writeJsonl(join(h.dir, 'limits.jsonl'), [chat('a', 'x', 'qwen-plus')]);
    const MB = 1024 * 1024;
    const res = await h.run(h.acts.validateSubmission, {
      ...base(path),
      provider: 'ds',
      limits: { maxLines: 50_001, maxBytes: 500 * MB + 1, maxLineBytes: 6 * MB + 1 },
      failOnProblems: false,
    });
    expect(res.ok).toBe(false);
    expect(res.problems.map((p) => [p.line, p.code])).toEqual([
      [null, 'limit_above_provider'],
      [null, 'limit_above_provider'],
      [null, 'limit_above_provider'],
    ]);
    expect(res.problems[0].message).toMatch(/limits\.maxLines 50001 .*dashscope.* 50000/);
    expect(res.problems[1].message).toMatch(new RegExp(`limits\\.maxBytes ${500 * MB + 1} .* ${500 * MB}`));
    expect(res.problems[2].message).toMatch(new RegExp(`limits\\.maxLineBytes ${6 * MB + 1} .* ${6 * MB}`));
    expect(res.chunks).toEqual([]);

    const nonsense = await h.run(h.acts.validateSubmission, {
      ...base(path),
      provider: 'ds',
      limits: { maxLines: 0, maxBytes: 1.5 },
      failOnProblems: false,
    });
    expect(nonsense.problems.map((p) => p.code)).toEqual(['invalid_limit', 'invalid_limit']);

    // Equal or tighter is accepted.
    const ok = await h.run(h.acts.validateSubmission, {
      ...base(path),
      provider: 'ds',
      limits: { maxLines: 50_000, maxBytes: 10 * MB, maxLineBytes: MB },
    });
    expect(ok.ok).toBe(true);
  });
});

describe('submission-level checks per provider kind', () => {
  test('openai: endpoint list, 24h only, metadata pairs counting our tags', async () => {
    const path = await writeJsonl(join(h.dir, 'one.jsonl'), [chat('a', 'x')]);
    const metadata = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, 'v']));
    const res = await h.run(h.acts.validateSubmission, {
      ...base(path),
      endpoint: '/v1/audio/speech',
      completionWindow: '48h',
      metadata: { ...metadata, ['x'.repeat(65)]: 'v', long: 'v'.repeat(513) },
      failOnProblems: false,
    });
    expect(res.problems.map((p) => p.code)).toEqual([
      'unsupported_endpoint',
      'invalid_completion_window',
      'metadata_too_many_pairs',
      'metadata_key_too_long',
      'metadata_value_too_long',
      // The url of every line now differs from the (unsupported) endpoint.
      'url_mismatch',
    ]);
  });

  test('dashscope: 336h is fine, 337h and /v1/responses are not; ds_name and ds_description lengths', async () => {
    const path = await writeJsonl(join(h.dir, 'ds.jsonl'), [chat('a', 'x', 'qwen-plus')]);
    const ok = await h.run(h.acts.validateSubmission, {
      ...base(path),
      provider: 'ds',
      completionWindow: '336h',
      metadata: { ds_name: 'n'.repeat(100) },
    });
    expect(ok.ok).toBe(true);
    const bad = await h.run(h.acts.validateSubmission, {
      ...base(path),
      provider: 'ds',
      endpoint: '/v1/responses',
      completionWindow: '337h',
      metadata: { ds_name: 'n'.repeat(101), ds_description: 'd'.repeat(201) },
      failOnProblems: false,
    });
    expect(bad.problems.map((p) => p.code)).toEqual([
      'unsupported_endpoint',
      'invalid_completion_window',
      'ds_name_too_long',
      'ds_description_too_long',
      'url_mismatch',
    ]);
  });

  test('dashscope: 6 MB a line by default', async () => {
    const big = chat('big', 'z'.repeat(6 * 1024 * 1024));
    const path = await writeJsonl(join(h.dir, 'bigline.jsonl'), [chat('a', 'x', 'qwen-plus'), big]);
    const res = await h.run(h.acts.validateSubmission, {
      ...base(path),
      provider: 'ds',
      failOnProblems: false,
    });
    expect(res.problems.map((p) => [p.line, p.code])).toEqual([[2, 'line_too_large']]);
    // OpenAI has no line limit of its own: the same line only trips the model check.
    const oa = await h.run(h.acts.validateSubmission, { ...base(path), failOnProblems: false });
    expect(oa.problems.map((p) => [p.line, p.code])).toEqual([[2, 'model_mismatch']]);
  });

  test('an uploaded file id: checked with files.retrieve, no local validation', async () => {
    const c = client(emu);
    const fileId = await upload(c, [chat('a', 'x')]);
    emu.clearCalls();
    const res = await h.run(h.acts.validateSubmission, {
      provider: 'emu',
      submissionId: 'wf-remote',
      source: { fileId },
      endpoint: ENDPOINT,
    });
    expect(res).toMatchObject({ ok: true, inputFileId: fileId, chunks: [] });
    expect(emu.calls().map((x) => x.route)).toEqual(['files.retrieve']);
    const f = await failure(
      h.run(h.acts.validateSubmission, {
        provider: 'emu',
        submissionId: 'wf-remote',
        source: { fileId: 'file-nope' },
        endpoint: ENDPOINT,
      }),
    );
    expect(f.type).toBe('InvalidSubmission');
    expect(f.message).toMatch(/input_file_not_found/);
  });
});

describe('bare bodies', () => {
  test('are wrapped with deterministic ids that avoid explicit ones, and given the default model', async () => {
    const path = await writeJsonl(join(h.dir, 'bare.jsonl'), [
      chat('first', 'explicit'), // 1
      { messages: [{ role: 'user', content: 'bare one' }], temperature: 0 }, // 2
      '', // 3
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'bare with model' }] }, // 4
      chat('line-2', 'explicit id that a generated one would take'), // 5
      { custom_id: 'env', method: 'POST', url: ENDPOINT, body: { messages: [] } }, // 6: envelope, no model
    ]);
    const input = { ...base(path), defaultModel: 'gpt-4o-mini' };
    const res = await h.run(h.acts.validateSubmission, input);
    expect(res).toMatchObject({ ok: true, lines: 5, wrapped: 2, defaultedModel: 2, model: 'gpt-4o-mini' });
    expect(res.chunks).toHaveLength(1);
    const staged = (await readFile(res.chunks[0].path, 'utf8')).trimEnd().split('\n');
    const parsed = staged.map((l) => JSON.parse(l) as { custom_id: string; body: unknown });
    expect(parsed.map((l) => l.custom_id)).toEqual(['first', 'line-2-1', 'line-4', 'line-2', 'env']);
    for (const l of parsed)
      expect(l).toMatchObject({ method: 'POST', url: ENDPOINT, body: { model: 'gpt-4o-mini' } });
    expect(parsed[1].body).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'bare one' }],
      temperature: 0,
    });
    // Explicit complete lines are copied verbatim.
    expect(staged[0]).toBe(JSON.stringify(chat('first', 'explicit')));
    expect(res.chunks[0]).toMatchObject({ index: 0, lines: 5, firstLine: 1, lastLine: 6 });
    expect(res.chunks[0].bytes).toBe((await stat(res.chunks[0].path)).size);

    // A retry writes the same bytes (same checksum), so an upload is the same whatever attempt staged it.
    const again = await h.run(h.acts.validateSubmission, input);
    expect(again.chunks[0].sha256).toBe(res.chunks[0].sha256);

    // The provider accepts the staged file: the batch runs every request.
    const created = await h.run(h.acts.createBatch, {
      provider: 'emu',
      workflowId: 'wf-bare',
      chunk: res.chunks[0],
      endpoint: ENDPOINT,
    });
    await emu.advance(3600);
    const done = await client(emu).batches.retrieve(created.snapshot.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toMatchObject({ total: 5, completed: 5, failed: 0 });
  });

  test('readRequestLine and generatedId, pure', () => {
    expect(readRequestLine('{"input":"x"}', '/v1/embeddings')).toMatchObject({
      kind: 'request',
      customId: null,
    });
    expect(readRequestLine('{"body":{}}', ENDPOINT)).toMatchObject({ kind: 'problems' });
    const taken = new Set(['line-1', 'line-1-1']);
    expect(generatedId(1, taken)).toBe('line-1-2');
    expect(generatedId(1, taken)).toBe('line-1-3');
    expect(generatedId(2, taken)).toBe('line-2');
  });
});

describe('split over limits', () => {
  const lines = Array.from({ length: 25 }, (_, i) => chat(`r-${String(i).padStart(2, '0')}`, 'same size'));

  test('by lines: 25 lines at 10 a file -> 10, 10, 5, with source line ranges', async () => {
    const withBlank = [...lines.slice(0, 12), '', ...lines.slice(12)];
    const path = await writeJsonl(join(h.dir, 'split-lines.jsonl'), withBlank);
    const res = await h.run(h.acts.validateSubmission, { ...base(path), limits: { maxLines: 10 } });
    expect(res.chunks.map((c) => [c.index, c.lines, c.firstLine, c.lastLine])).toEqual([
      [0, 10, 1, 10],
      [1, 10, 11, 21],
      [2, 5, 22, 26],
    ]);
    const ids = [];
    for (const c of res.chunks) {
      const text = await readFile(c.path, 'utf8');
      expect(Buffer.byteLength(text)).toBe(c.bytes);
      ids.push(
        ...text
          .trimEnd()
          .split('\n')
          .map((l) => idOf(l)),
      );
    }
    expect(ids).toEqual(lines.map((l) => l.custom_id));
    expect(res.bytes).toBe(res.chunks.reduce((n, c) => n + c.bytes, 0));
  });

  test('by bytes: never over the limit, never a split line', async () => {
    const path = await writeJsonl(join(h.dir, 'split-bytes.jsonl'), lines);
    const lineBytes = Buffer.byteLength(JSON.stringify(lines[0])) + 1;
    const maxBytes = Math.floor(lineBytes * 3.5);
    const res = await h.run(h.acts.validateSubmission, { ...base(path), limits: { maxBytes } });
    expect(res.chunks.map((c) => c.lines)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 1]);
    for (const c of res.chunks) {
      expect(c.bytes).toBeLessThanOrEqual(maxBytes);
      const text = await readFile(c.path, 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      for (const l of text.trimEnd().split('\n')) expect(() => JSON.parse(l) as unknown).not.toThrow();
    }
    expect(await readdir(join(res.chunks[0].path, '..'))).toHaveLength(9);
  });

  test('startsNewChunk, pure', () => {
    const limits = { maxLines: 2, maxBytes: 100 };
    expect(startsNewChunk({ lines: 0, bytes: 0 }, 500, limits)).toBe(false);
    expect(startsNewChunk({ lines: 1, bytes: 50 }, 50, limits)).toBe(false);
    expect(startsNewChunk({ lines: 1, bytes: 50 }, 51, limits)).toBe(true);
    expect(startsNewChunk({ lines: 2, bytes: 2 }, 1, limits)).toBe(true);
  });
});

// downloadResults, cleanupRemoteFiles, buildResubmission over real result files from the emulator.
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { SubmissionChunk } from '../../activities/submission/types';
import { ResultSummarizer, classifyResultLine } from '../../activities/submission/summary';
import { KEY, client } from '../emulator/helpers';
import { ENDPOINT, chat, failure, harness, idOf, writeJsonl, type Harness } from './helpers';

let emu: EmulatorHandle;
let slow: EmulatorHandle;
let h: Harness;

beforeAll(async () => {
  // 10% of requests fail (server_error, chosen by a hash of custom_id); requests take no time.
  emu = await startEmulator({
    clock: 'manual',
    apiKey: KEY,
    startTime: 1_700_000_000,
    failureRate: 0.1,
    requestSeconds: 0,
    validatingSeconds: 1,
    finalizingSeconds: 1,
  });
  // 10 requests of 3 h 1 min each do not fit a 24 h window: 7 run, the batch expires with 3 never run.
  slow = await startEmulator({
    clock: 'manual',
    apiKey: KEY,
    startTime: 1_700_000_000,
    requestSeconds: 3 * 3600 + 60,
    validatingSeconds: 1,
  });
  h = await harness({ emu: { emu, kind: 'openai' }, slow: { emu: slow, kind: 'openai' } });
});
afterAll(async () => {
  await emu?.close();
  await slow?.close();
  await h?.close();
});
beforeEach(() => {
  emu.clearCalls();
  slow.clearCalls();
});

async function submit(
  provider: string,
  name: string,
  n: number,
): Promise<{ chunk: SubmissionChunk; batchId: string }> {
  const lines = Array.from({ length: n }, (_, i) =>
    chat(`${name}-${i}`, `question ${i} ${'pad '.repeat(i % 7)}`),
  );
  const path = await writeJsonl(join(h.dir, `${name}.jsonl`), lines);
  const v = await h.run(h.acts.validateSubmission, {
    provider,
    submissionId: name,
    source: { path },
    endpoint: ENDPOINT,
  });
  const c = await h.run(h.acts.createBatch, {
    provider,
    workflowId: name,
    chunk: v.chunks[0],
    endpoint: ENDPOINT,
  });
  return { chunk: v.chunks[0], batchId: c.snapshot.id };
}

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('a 20,000-line batch with failures', () => {
  let chunk: SubmissionChunk;
  let batch: Awaited<ReturnType<ReturnType<typeof client>['batches']['retrieve']>>;

  beforeAll(async () => {
    const s = await submit('emu', 'wf-big', 20_000);
    chunk = s.chunk;
    await emu.advance(10);
    batch = await client(emu).batches.retrieve(s.batchId);
    expect(batch.status).toBe('completed');
  });

  test('streams both files to disk with checksums, a summary per outcome and summed tokens', async () => {
    h.heartbeats.length = 0;
    const res = await h.run(h.acts.downloadResults, {
      provider: 'emu',
      batchId: batch.id,
      outputFileId: batch.output_file_id ?? null,
      errorFileId: batch.error_file_id ?? null,
      inputPath: chunk.path,
    });
    expect(res.skipped).toBe(false);
    expect(res.dir).toBe(join(h.dir, 'results', batch.id));
    const [out, err] = res.files;
    expect(out).toMatchObject({
      kind: 'output',
      fileId: batch.output_file_id,
      path: join(res.dir, 'output.jsonl'),
    });
    expect(err).toMatchObject({
      kind: 'error',
      fileId: batch.error_file_id,
      path: join(res.dir, 'errors.jsonl'),
    });
    for (const f of res.files) {
      expect(f.sha256).toBe(await sha256(f.path));
      expect(f.bytes).toBe((await client(emu).files.retrieve(f.fileId)).bytes);
    }
    const failed = batch.request_counts!.failed;
    expect(failed).toBeGreaterThan(1000);
    expect(out.lines).toBe(20_000 - failed);
    expect(err.lines).toBe(failed);
    expect(res.summary).toEqual({
      lines: 20_000,
      succeeded: 20_000 - failed,
      failed,
      failedByCode: { server_error: failed },
      notRun: 0,
      notRunByCode: {},
      unparsable: 0,
      duplicates: 0,
    });
    // The emulator's batch usage sums the same succeeded requests: the two must agree exactly.
    const u = batch.usage!;
    expect(res.tokens).toEqual({
      inputTokens: u.input_tokens,
      cachedTokens: 0,
      outputTokens: u.output_tokens,
      reasoningTokens: 0,
      totalTokens: u.total_tokens,
    });
    expect(h.heartbeats.filter((d) => (d as { phase?: string }).phase === 'download').length).toBeGreaterThan(
      1,
    );
    const manifest = JSON.parse(await readFile(join(res.dir, 'manifest.json'), 'utf8')) as {
      files: { name: string }[];
    };
    expect(manifest).toMatchObject({ version: 1, batchId: batch.id, provider: 'emu', summary: res.summary });
    expect(manifest.files.map((f) => f.name)).toEqual(['output.jsonl', 'errors.jsonl']);
  });

  test('idempotent: a verified manifest skips the download; a damaged file is downloaded again', async () => {
    const input = {
      provider: 'emu',
      batchId: batch.id,
      outputFileId: batch.output_file_id ?? null,
      errorFileId: batch.error_file_id ?? null,
    };
    const again = await h.run(h.acts.downloadResults, input);
    expect(again.skipped).toBe(true);
    expect(emu.calls()).toHaveLength(0);
    const good = again.files[1].sha256;
    await appendFile(again.files[1].path, 'garbage\n');
    const repaired = await h.run(h.acts.downloadResults, input);
    expect(repaired.skipped).toBe(false);
    expect(await sha256(repaired.files[1].path)).toBe(good);
    expect(emu.calls().map((c) => c.route)).toEqual(['files.content', 'files.content']);
  });

  test('a worker killed mid-download leaves a temp file: the next download removes it (fault matrix, crash-during-download)', async () => {
    const dir = join(h.dir, 'results', batch.id);
    // What a SIGKILLed attempt leaves: part of a result file under its temp name, and a half manifest.
    await writeFile(join(dir, 'errors.jsonl.0738d0b6.tmp'), '{"id":"batch_req_1","custom');
    await writeFile(join(dir, 'manifest.json.4242.tmp'), '{"version":1,');
    const input = {
      provider: 'emu',
      batchId: batch.id,
      outputFileId: batch.output_file_id ?? null,
      errorFileId: batch.error_file_id ?? null,
    };
    // Also when the stored results still verify and nothing is downloaded again.
    const res = await h.run(h.acts.downloadResults, input);
    expect(res.skipped).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(['errors.jsonl', 'manifest.json', 'output.jsonl']);
  });

  test('resubmission: exactly the failed lines, verbatim', async () => {
    const res = await h.run(h.acts.buildResubmission, { batchId: batch.id, inputPath: chunk.path });
    expect(res.path).toBe(join(h.dir, 'results', batch.id, 'resubmit.jsonl'));
    const failedIds = (await readFile(join(h.dir, 'results', batch.id, 'errors.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map(idOf);
    const lines = (await readFile(res.path!, 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => idOf(l)).sort()).toEqual([...failedIds].sort());
    expect(res).toMatchObject({ lines: failedIds.length, skippedSucceeded: 20_000 - failedIds.length });
    const input = new Set((await readFile(chunk.path, 'utf8')).split('\n'));
    for (const l of lines) expect(input.has(l)).toBe(true);
    // server_error is retryable: the 'retryable' mode keeps the same lines.
    const retryable = await h.run(h.acts.buildResubmission, {
      batchId: batch.id,
      inputPath: chunk.path,
      mode: 'retryable',
    });
    expect(retryable.lines).toBe(failedIds.length);
  });

  test('cleanup: a tampered file blocks every delete; once verified, all three files go (404 counts as gone)', async () => {
    const dir = join(h.dir, 'results', batch.id);
    const original = await readFile(join(dir, 'output.jsonl'));
    const tampered = Buffer.from(original);
    tampered[10] = tampered[10] === 65 ? 66 : 65;
    await writeFile(join(dir, 'output.jsonl'), tampered);
    const refused = await h.run(h.acts.cleanupRemoteFiles, {
      provider: 'emu',
      batchId: batch.id,
      inputFileId: batch.input_file_id,
    });
    expect(refused.verified).toBe(false);
    expect(refused.deleted).toEqual([]);
    expect(refused.mismatches[0]).toMatch(/^output.jsonl: sha256/);
    expect(emu.calls()).toHaveLength(0);

    await writeFile(join(dir, 'output.jsonl'), original);
    const done = await h.run(h.acts.cleanupRemoteFiles, {
      provider: 'emu',
      batchId: batch.id,
      inputFileId: batch.input_file_id,
    });
    const ids = [batch.output_file_id, batch.error_file_id, batch.input_file_id];
    expect(done).toEqual({ verified: true, deleted: ids, mismatches: [] });
    expect(emu.calls().map((c) => `${c.route}:${c.status}`)).toEqual([
      'files.delete:200',
      'files.delete:200',
      'files.delete:200',
    ]);
    for (const id of ids)
      await expect(client(emu).files.retrieve(id!)).rejects.toMatchObject({ status: 404 });
    const retry = await h.run(h.acts.cleanupRemoteFiles, {
      provider: 'emu',
      batchId: batch.id,
      inputFileId: batch.input_file_id,
    });
    expect(retry.deleted).toEqual(ids);
  });
});

test('an expired batch: partial output kept, never-run lines counted by code and resubmitted', async () => {
  const { chunk, batchId } = await submit('slow', 'wf-expire', 10);
  await slow.advance(24 * 3600 + 5);
  const b = await client(slow).batches.retrieve(batchId);
  expect(b.status).toBe('expired');
  // The input as known to the worker also holds one id the provider never saw.
  const inputPath = join(h.dir, 'expire-input.jsonl');
  await writeFile(
    inputPath,
    (await readFile(chunk.path, 'utf8')) + JSON.stringify(chat('extra', 'x')) + '\n',
  );
  const res = await h.run(h.acts.downloadResults, {
    provider: 'slow',
    batchId,
    outputFileId: b.output_file_id ?? null,
    errorFileId: b.error_file_id ?? null,
    inputPath,
  });
  expect(res.summary).toMatchObject({
    succeeded: 7,
    failed: 0,
    notRun: 4,
    notRunByCode: { batch_expired: 3, not_in_results: 1 },
  });
  const resub = await h.run(h.acts.buildResubmission, { batchId, inputPath, mode: 'retryable' });
  expect(resub.lines).toBe(4);
  const ids = (await readFile(resub.path!, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => idOf(l));
  expect(ids).toEqual(['wf-expire-7', 'wf-expire-8', 'wf-expire-9', 'extra']);
});

test('nothing to resubmit: path null, no file left behind', async () => {
  const { chunk, batchId } = await submit('slow', 'wf-small', 2);
  await slow.advance(8 * 3600);
  const b = await client(slow).batches.retrieve(batchId);
  expect(b.status).toBe('completed');
  await h.run(h.acts.downloadResults, {
    provider: 'slow',
    batchId,
    outputFileId: b.output_file_id!,
    errorFileId: null,
  });
  const res = await h.run(h.acts.buildResubmission, { batchId, inputPath: chunk.path });
  expect(res).toMatchObject({ path: null, lines: 0, skippedSucceeded: 2 });
});

test('a result file that is gone (404) fails non-retryably; an unsafe batch id is refused', async () => {
  const f = await failure(
    h.run(h.acts.downloadResults, {
      provider: 'emu',
      batchId: 'batch_x',
      outputFileId: 'file-gone',
      errorFileId: null,
    }),
  );
  expect(f.type).toBe('BatchNotFound');
  expect(f.nonRetryable).toBe(true);
  await expect(
    h.run(h.acts.downloadResults, {
      provider: 'emu',
      batchId: '../etc',
      outputFileId: null,
      errorFileId: null,
    }),
  ).rejects.toThrow(/unusable batch id/);
});

test('retryable mode leaves out requests failed for good (DashScope-style non-2xx lines in the output)', async () => {
  const batchId = 'batch_crafted';
  const dir = join(h.dir, 'results', batchId);
  await mkdir(dir, { recursive: true });
  const resultLines = [
    {
      custom_id: 'ok',
      response: { status_code: 200, body: { usage: { prompt_tokens: 3, completion_tokens: 4 } } },
    },
    {
      custom_id: 'bad',
      response: { status_code: 400, body: { error: { code: 'invalid_parameter' } } },
      error: null,
    },
    { custom_id: 'busy', response: { status_code: 429, body: {} }, error: null },
  ];
  const text = resultLines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  await writeFile(join(dir, 'output.jsonl'), text);
  const digest = createHash('sha256').update(text).digest('hex');
  const file = {
    kind: 'output',
    fileId: 'file-x',
    name: 'output.jsonl',
    bytes: Buffer.byteLength(text),
    lines: 3,
    sha256: digest,
  };
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify({ version: 1, provider: 'emu', batchId, files: [file] }),
  );
  const inputPath = await writeJsonl(
    join(h.dir, 'crafted-input.jsonl'),
    ['ok', 'bad', 'busy', 'never'].map((id) => chat(id, id)),
  );
  const all = await h.run(h.acts.buildResubmission, { batchId, inputPath });
  expect(all).toMatchObject({ lines: 3, skippedSucceeded: 1, skippedNonRetryable: 0 });
  const retryable = await h.run(h.acts.buildResubmission, { batchId, inputPath, mode: 'retryable' });
  expect(retryable).toMatchObject({ lines: 2, skippedSucceeded: 1, skippedNonRetryable: 1 });
  const ids = (await readFile(retryable.path!, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => idOf(l));
  expect(ids).toEqual(['busy', 'never']);
});

describe('summary, pure', () => {
  test('classifies output and error lines of both providers', () => {
    expect(
      classifyResultLine({ custom_id: 'a', response: { status_code: 200, body: {} }, error: null }),
    ).toMatchObject({
      outcome: 'succeeded',
    });
    expect(
      classifyResultLine({
        custom_id: 'a',
        response: { status_code: 400, body: { error: { code: 'invalid_value' } } },
      }),
    ).toMatchObject({ outcome: 'failed', code: 'invalid_value', retryable: false });
    expect(classifyResultLine({ custom_id: 'a', response: { status_code: 503, body: null } })).toMatchObject({
      outcome: 'failed',
      code: 'http_503',
      retryable: true,
    });
    expect(
      classifyResultLine({ custom_id: 'a', response: null, error: { code: 'batch_expired' } }),
    ).toMatchObject({
      outcome: 'notRun',
      code: 'batch_expired',
    });
    expect(classifyResultLine({ response: null })).toBeNull();
  });

  test('sums both usage dialects with details; counts duplicates and junk; bounds codes', () => {
    const s = new ResultSummarizer();
    const ok = (id: string, usage: object) =>
      JSON.stringify({ custom_id: id, response: { status_code: 200, body: { usage } } });
    s.addLine(
      ok('a', {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 2 },
      }),
    );
    s.addLine(
      ok('b', {
        input_tokens: 7,
        output_tokens: 3,
        input_tokens_details: { cached_tokens: 1 },
        output_tokens_details: { reasoning_tokens: 1 },
      }),
    );
    s.addLine(ok('a', { prompt_tokens: 1000 }));
    s.addLine('{not json');
    s.addLine(null);
    for (let i = 0; i < 60; i++)
      s.addLine(JSON.stringify({ custom_id: `f${i}`, error: { code: `code_${i}` } }));
    s.addLine(JSON.stringify({ custom_id: '__proto__', error: { code: '__proto__' } }));
    expect(s.tokens).toEqual({
      inputTokens: 17,
      cachedTokens: 5,
      outputTokens: 8,
      reasoningTokens: 3,
      totalTokens: 25,
    });
    const sum = s.summary;
    expect(sum).toMatchObject({ lines: 66, succeeded: 2, failed: 61, duplicates: 1, unparsable: 2 });
    expect(Object.keys(sum.failedByCode)).toHaveLength(51);
    expect(sum.failedByCode.other).toBe(11);
    expect(JSON.parse(JSON.stringify(sum)).failedByCode.other).toBe(11);
  });
});

// createBatch: streamed upload + create, and adoption of what a lost-response attempt already did.
import { createReadStream } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { CreateBatchInput, SubmissionChunk } from '../../activities/submission/types';
import { uploadName } from '../../activities/submission/create';
import { contentKey, contentKeyOf } from '../../activities/submission/content-key';
import { KEY, client } from '../emulator/helpers';
import { ENDPOINT, chat, failure, harness, writeJsonl, type Harness } from './helpers';

let emu: EmulatorHandle;
let ds: EmulatorHandle;
/** A compatible provider without file listing (GET /files is 405). */
let bare: EmulatorHandle;
let h: Harness;

beforeAll(async () => {
  emu = await startEmulator({ clock: 'manual', apiKey: KEY, startTime: 1_700_000_000 });
  ds = await startEmulator({ clock: 'manual', apiKey: KEY, profile: 'dashscope', startTime: 1_700_000_000 });
  bare = await startEmulator({ clock: 'manual', apiKey: KEY, startTime: 1_700_000_000, fileListing: 405 });
  h = await harness({
    emu: { emu, kind: 'openai' },
    ds: { emu: ds, kind: 'dashscope' },
    bare: { emu: bare, kind: 'openai' },
  });
});
afterAll(async () => {
  await emu?.close();
  await ds?.close();
  await bare?.close();
  await h?.close();
});
beforeEach(() => {
  for (const e of [emu, ds, bare]) {
    e.setFaults({});
    e.clearCalls();
  }
});

async function staged(
  name: string,
  provider = 'emu',
  n = 3,
  model = 'gpt-4o-mini',
  question = (i: number) => `question ${i}`,
): Promise<SubmissionChunk> {
  const lines = Array.from({ length: n }, (_, i) => chat(`${name}-${i}`, question(i), model));
  const path = await writeJsonl(join(h.dir, `${name}.jsonl`), lines);
  const res = await h.run(h.acts.validateSubmission, {
    provider,
    submissionId: name,
    source: { path },
    endpoint: ENDPOINT,
  });
  return res.chunks[0];
}

async function batchesTagged(e: EmulatorHandle, base: string, workflowId: string) {
  const all = [];
  for await (const b of client(e, base).batches.list({ limit: 100 })) {
    if (b.metadata?.batchkeeper_workflow_id === workflowId) all.push(b);
  }
  return all;
}

const routes = (e: EmulatorHandle) => e.calls().map((c) => `${c.route}:${c.status}`);

/** What the previous version sent: the workflow tag (and chunk) only, from an upload named without content. */
async function legacyBatch(
  e: EmulatorHandle,
  workflowId: string,
  path: string,
  extra: Partial<OpenAI.Batches.BatchCreateParams> = {},
) {
  const c = client(e);
  const file = await c.files.create({
    file: await toFile(createReadStream(path), `batchkeeper-legacy-chunk-0.jsonl`),
    purpose: 'batch',
  });
  return c.batches.create({
    input_file_id: file.id,
    endpoint: ENDPOINT,
    completion_window: '24h',
    metadata: { batchkeeper_workflow_id: workflowId, batchkeeper_chunk: '0' },
    ...extra,
  });
}

async function exists(e: EmulatorHandle, fileId: string): Promise<boolean> {
  return client(e)
    .files.retrieve(fileId)
    .then(
      () => true,
      (err: unknown) => {
        if (err instanceof OpenAI.NotFoundError) return false;
        throw err;
      },
    );
}

test('uploads the chunk (streamed), creates the batch with our tags, returns the normalized snapshot', async () => {
  const chunk = await staged('wf-create');
  emu.clearCalls();
  const res = await h.run(h.acts.createBatch, {
    provider: 'emu',
    workflowId: 'wf-create',
    chunk,
    endpoint: ENDPOINT,
    metadata: { team: 'search' },
  });
  expect(res.adopted).toBe(false);
  expect(res.reusedFile).toBe(false);
  expect(res.snapshot).toMatchObject({
    status: 'validating',
    endpoint: ENDPOINT,
    inputFileId: res.inputFileId,
    metadata: { team: 'search', batchkeeper_workflow_id: 'wf-create', batchkeeper_chunk: '0' },
  });
  const key = contentKey({
    input: { sha256: chunk.sha256 },
    endpoint: ENDPOINT,
    completionWindow: '24h',
    metadata: { team: 'search' },
  });
  expect(res.contentKey).toBe(key);
  expect(res.snapshot.metadata.batchkeeper_content).toBe(key);
  expect(routes(emu)).toEqual([
    'batches.list:200',
    'files.list:200',
    'files.create:200',
    'batches.create:200',
  ]);
  const f = await client(emu).files.retrieve(res.inputFileId);
  expect(f).toMatchObject({
    bytes: chunk.bytes,
    filename: uploadName('wf-create', 0, key),
    purpose: 'batch',
  });
  expect(f.filename).toContain(key);
  expect(h.heartbeats.some((d) => (d as { phase?: string }).phase === 'upload')).toBe(true);
});

test('create applied but its answer lost: the retry adopts the batch, exactly one exists', async () => {
  const chunk = await staged('wf-lost-create');
  const input = { provider: 'emu', workflowId: 'wf-lost-create', chunk, endpoint: ENDPOINT };
  emu.setFaults({ dropConnection: { nextN: 1, afterHandler: true, only: 'batches.create' } });
  const first = await failure(h.run(h.acts.createBatch, input));
  expect(first.type).toBe('ProviderUnreachable');
  expect(first.nonRetryable).toBe(false);
  const created = await batchesTagged(emu, emu.url, 'wf-lost-create');
  expect(created).toHaveLength(1);

  emu.clearCalls();
  const retry = await h.run(h.acts.createBatch, input);
  expect(retry.adopted).toBe(true);
  expect(retry.snapshot.id).toBe(created[0].id);
  expect(retry.inputFileId).toBe(created[0].input_file_id);
  expect(created[0].metadata?.batchkeeper_content).toBe(contentKeyOf(input));
  // Found by list before anything else: no upload, no create.
  expect(routes(emu)).toEqual(['batches.list:200']);
  expect(await batchesTagged(emu, emu.url, 'wf-lost-create')).toHaveLength(1);
});

test('upload applied but its answer lost: the retry reuses the file, one upload and one batch', async () => {
  const chunk = await staged('wf-lost-upload');
  const input = { provider: 'emu', workflowId: 'wf-lost-upload', chunk, endpoint: ENDPOINT };
  emu.setFaults({ dropConnection: { nextN: 1, afterHandler: true, only: 'files.create' } });
  await failure(h.run(h.acts.createBatch, input));
  emu.clearCalls();
  const retry = await h.run(h.acts.createBatch, input);
  expect(retry).toMatchObject({ adopted: false, reusedFile: true });
  expect(routes(emu)).toEqual(['batches.list:200', 'files.list:200', 'batches.create:200']);
  const uploads = (await client(emu).files.list({ purpose: 'batch' })).data.filter(
    (f) => f.filename === uploadName('wf-lost-upload', 0, contentKeyOf(input)),
  );
  expect(uploads.map((f) => f.id)).toEqual([retry.inputFileId]);
});

test('searchSince ends the search: an older tagged batch is not adopted', async () => {
  const chunk = await staged('wf-old');
  const input = { provider: 'emu', workflowId: 'wf-old', chunk, endpoint: ENDPOINT };
  const old = await h.run(h.acts.createBatch, input);
  await emu.advance(3600);
  const fresh = await h.run(h.acts.createBatch, { ...input, searchSince: emu.now() - 60 });
  expect(fresh.adopted).toBe(false);
  expect(fresh.snapshot.id).not.toBe(old.snapshot.id);
  // Without the bound the newest tagged batch is adopted.
  const again = await h.run(h.acts.createBatch, input);
  expect(again).toMatchObject({ adopted: true, snapshot: { id: fresh.snapshot.id } });
});

test('DashScope: sends ds_name with the tag, filters list by it, adopts after a lost create', async () => {
  const chunk = await staged('wf-ds', 'ds', 2, 'qwen-plus');
  const input = {
    provider: 'ds',
    workflowId: 'wf-ds',
    chunk,
    endpoint: ENDPOINT,
    completionWindow: '72h',
    metadata: { ds_name: 'nightly eval', ds_description: 'eval set v3' },
  };
  ds.setFaults({ dropConnection: { nextN: 1, afterHandler: true, only: 'batches.create' } });
  await failure(h.run(h.acts.createBatch, input));
  const retry = await h.run(h.acts.createBatch, input);
  expect(retry.adopted).toBe(true);
  expect(retry.snapshot).toMatchObject({
    completionWindow: '72h',
    metadata: { ds_name: 'nightly eval', ds_description: 'eval set v3', batchkeeper_workflow_id: 'wf-ds' },
  });
  expect(await batchesTagged(ds, ds.compatibleUrl, 'wf-ds')).toHaveLength(1);
});

test('DashScope without visible tags: a batch made from our own upload is adopted', async () => {
  const chunk = await staged('wf-ds-hidden', 'ds', 2, 'qwen-plus');
  const input = { provider: 'ds', workflowId: 'wf-ds-hidden', chunk, endpoint: ENDPOINT };
  // An earlier attempt uploaded under our name (which carries the content key) and created a batch whose
  // metadata we cannot see.
  const c = client(ds, ds.compatibleUrl);
  const file = await c.files.create({
    file: await toFile(createReadStream(chunk.path), uploadName('wf-ds-hidden', 0, contentKeyOf(input))),
    purpose: 'batch',
  });
  const hidden = await c.batches.create({
    input_file_id: file.id,
    endpoint: ENDPOINT,
    completion_window: '24h',
  });
  const res = await h.run(h.acts.createBatch, input);
  expect(res).toMatchObject({ adopted: true, reusedFile: true, snapshot: { id: hidden.id } });
});

test('an existing provider file id: no upload', async () => {
  const chunk = await staged('wf-fileid');
  const first = await h.run(h.acts.createBatch, {
    provider: 'emu',
    workflowId: 'wf-fileid-a',
    chunk,
    endpoint: ENDPOINT,
  });
  emu.clearCalls();
  const res = await h.run(h.acts.createBatch, {
    provider: 'emu',
    workflowId: 'wf-fileid-b',
    inputFileId: first.inputFileId,
    endpoint: ENDPOINT,
  });
  expect(res).toMatchObject({ adopted: false, inputFileId: first.inputFileId });
  expect(routes(emu)).toEqual(['batches.list:200', 'batches.create:200']);
});

test('a staging file changed since validation is refused, and nothing stays uploaded', async () => {
  const chunk = await staged('wf-changed');
  await appendFile(chunk.path, JSON.stringify(chat('sneaky', 'x')) + '\n');
  const f = await failure(
    h.run(h.acts.createBatch, { provider: 'emu', workflowId: 'wf-changed', chunk, endpoint: ENDPOINT }),
  );
  expect(f.type).toBe('StagingFileChanged');
  expect(f.nonRetryable).toBe(true);
  expect(emu.calls().some((c) => c.route === 'files.create' || c.route === 'batches.create')).toBe(false);
});

test('same size, different bytes: detected by the checksum taken while uploading; the upload is deleted', async () => {
  const chunk = await staged('wf-flipped');
  const { readFile, writeFile } = await import('node:fs/promises');
  const text = await readFile(chunk.path, 'utf8');
  await writeFile(chunk.path, text.replace('question 0', 'question X'));
  const f = await failure(
    h.run(h.acts.createBatch, { provider: 'emu', workflowId: 'wf-flipped', chunk, endpoint: ENDPOINT }),
  );
  expect(f.type).toBe('StagingFileChanged');
  expect(routes(emu).slice(-2)).toEqual(['files.create:200', 'files.delete:200']);
  expect(emu.calls().some((c) => c.route === 'batches.create')).toBe(false);
});

describe('the content key', () => {
  test('contentKey: changes with the content and every create parameter, not with the order of metadata', () => {
    const base = {
      input: { sha256: 'a'.repeat(64) },
      endpoint: ENDPOINT,
      completionWindow: '24h',
      model: null,
      metadata: { team: 'x', ds_name: 'n' },
    };
    const key = contentKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(contentKey({ ...base, metadata: { ds_name: 'n', team: 'x' } })).toBe(key);
    const variants = [
      { ...base, input: { sha256: 'b'.repeat(64) } },
      { ...base, input: { fileId: 'a'.repeat(64) } },
      { ...base, endpoint: '/v1/embeddings' },
      { ...base, completionWindow: '48h' },
      { ...base, model: 'gpt-4o' },
      { ...base, metadata: { team: 'y', ds_name: 'n' } },
      { ...base, metadata: { team: 'x' } },
    ];
    const keys = new Set([key, ...variants.map((v) => contentKey(v))]);
    expect(keys.size).toBe(variants.length + 1);
  });

  test('a reused name with different content of the same size: a new upload and a new batch; the earlier batch is untouched', async () => {
    const first = await staged('wf-reuse');
    const old = await h.run(h.acts.createBatch, {
      provider: 'emu',
      workflowId: 'wf-reuse',
      chunk: first,
      endpoint: ENDPOINT,
    });
    // The corrected file: one character differs, so the staged chunk has the same size.
    const second = await staged('wf-reuse', 'emu', 3, 'gpt-4o-mini', (i) =>
      i === 1 ? 'question X' : `question ${i}`,
    );
    expect(second.bytes).toBe(first.bytes);
    expect(second.sha256).not.toBe(first.sha256);
    emu.clearCalls();
    const res = await h.run(h.acts.createBatch, {
      provider: 'emu',
      workflowId: 'wf-reuse',
      chunk: second,
      endpoint: ENDPOINT,
    });
    expect(res).toMatchObject({ adopted: false, reusedFile: false });
    expect(res.snapshot.id).not.toBe(old.snapshot.id);
    expect(res.inputFileId).not.toBe(old.inputFileId);
    expect(routes(emu)).toEqual([
      'batches.list:200',
      'files.list:200',
      'files.create:200',
      'batches.create:200',
    ]);
    // The new batch runs the new bytes.
    expect(await (await client(emu).files.content(res.inputFileId)).text()).toBe(
      await readFile(second.path, 'utf8'),
    );
    // The earlier batch and its upload are left alone (its own workflow tracks it).
    expect(await client(emu).batches.retrieve(old.snapshot.id)).toMatchObject({
      status: 'validating',
      input_file_id: old.inputFileId,
      cancelling_at: null,
    });
    expect(await exists(emu, old.inputFileId)).toBe(true);
    expect(await batchesTagged(emu, emu.url, 'wf-reuse')).toHaveLength(2);

    // Same content but other create parameters is another request too.
    const other = await h.run(h.acts.createBatch, {
      provider: 'emu',
      workflowId: 'wf-reuse',
      chunk: second,
      endpoint: ENDPOINT,
      metadata: { team: 'other' },
    });
    expect(other.adopted).toBe(false);
    expect(other.snapshot.id).not.toBe(res.snapshot.id);
  });

  test('a legacy batch (workflow tag only) is adopted only when its input provably holds the same bytes', async () => {
    const chunk = await staged('wf-legacy');
    const input: CreateBatchInput = { provider: 'emu', workflowId: 'wf-legacy', chunk, endpoint: ENDPOINT };
    // Same size, other bytes: not ours to adopt.
    const otherPath = join(h.dir, 'wf-legacy-other.jsonl');
    await writeFile(otherPath, (await readFile(chunk.path, 'utf8')).replace('question 1', 'question X'));
    const stranger = await legacyBatch(emu, 'wf-legacy', otherPath);
    emu.clearCalls();
    const fresh = await h.run(h.acts.createBatch, input);
    expect(fresh.adopted).toBe(false);
    expect(fresh.snapshot.id).not.toBe(stranger.id);
    expect(await client(emu).batches.retrieve(stranger.id)).toMatchObject({ status: 'validating' });

    // The same bytes, endpoint, window and metadata: the create of an attempt before the deploy, adopted.
    const same = await legacyBatch(emu, 'wf-legacy-2', chunk.path);
    emu.clearCalls();
    const adopted = await h.run(h.acts.createBatch, { ...input, workflowId: 'wf-legacy-2' });
    expect(adopted).toMatchObject({ adopted: true, snapshot: { id: same.id } });
    // (Routes only: the emulator logs a streamed response's status after the client may have read it.)
    expect(emu.calls().map((c) => c.route)).toEqual(['batches.list', 'files.retrieve', 'files.content']);

    // Same bytes, but another window or metadata than this create would send: not the same request.
    const otherMeta = await legacyBatch(emu, 'wf-legacy-3', chunk.path, {
      metadata: { batchkeeper_workflow_id: 'wf-legacy-3', batchkeeper_chunk: '0', team: 'x' },
    });
    const notAdopted = await h.run(h.acts.createBatch, { ...input, workflowId: 'wf-legacy-3' });
    expect(notAdopted.adopted).toBe(false);
    expect(notAdopted.snapshot.id).not.toBe(otherMeta.id);
  });

  test('a legacy batch whose input cannot be read back (deleted) is not adopted: a fresh batch', async () => {
    const chunk = await staged('wf-legacy-gone');
    const legacy = await legacyBatch(emu, 'wf-legacy-gone', chunk.path);
    await client(emu).files.delete(legacy.input_file_id);
    const res = await h.run(h.acts.createBatch, {
      provider: 'emu',
      workflowId: 'wf-legacy-gone',
      chunk,
      endpoint: ENDPOINT,
    });
    expect(res.adopted).toBe(false);
    expect(res.snapshot.id).not.toBe(legacy.id);
  });
});

describe('a create the provider refuses', () => {
  test("our upload of this attempt is deleted, then the non-retryable failure is raised; the user's file never", async () => {
    const chunk = await staged('wf-refused');
    const f = await failure(
      h.run(h.acts.createBatch, {
        provider: 'emu',
        workflowId: 'wf-refused',
        chunk,
        endpoint: ENDPOINT,
        completionWindow: '48h', // the emulator's OpenAI profile takes 24h only: 400 on create
      }),
    );
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('ProviderBadRequest');
    expect(routes(emu)).toEqual([
      'batches.list:200',
      'files.list:200',
      'files.create:200',
      'batches.create:400',
      'files.delete:200',
    ]);
    const uploaded = (await client(emu).files.list({ purpose: 'batch' })).data.filter((x) =>
      x.filename.includes('wf-refused'),
    );
    expect(uploaded).toEqual([]);

    // The user's own file (source fileId) is never deleted, whatever the create answers.
    const c = client(emu);
    const file = await c.files.create({
      file: await toFile(Buffer.from(JSON.stringify(chat('u-1', 'mine')) + '\n'), 'mine.jsonl'),
      purpose: 'batch',
    });
    emu.clearCalls();
    const refused = await failure(
      h.run(h.acts.createBatch, {
        provider: 'emu',
        workflowId: 'wf-refused-user',
        inputFileId: file.id,
        endpoint: ENDPOINT,
        completionWindow: '48h',
      }),
    );
    expect(refused.nonRetryable).toBe(true);
    expect(routes(emu)).toEqual(['batches.list:200', 'batches.create:400']);
    expect(await exists(emu, file.id)).toBe(true);
  });

  test("an earlier attempt's upload, reused, is deleted too", async () => {
    const chunk = await staged('wf-refused-2');
    const input = {
      provider: 'emu',
      workflowId: 'wf-refused-2',
      chunk,
      endpoint: ENDPOINT,
      completionWindow: '48h',
    };
    emu.setFaults({ dropConnection: { nextN: 1, afterHandler: true, only: 'files.create' } });
    expect((await failure(h.run(h.acts.createBatch, input))).nonRetryable).toBe(false);
    const [upload] = (await client(emu).files.list({ purpose: 'batch' })).data.filter((x) =>
      x.filename.includes('wf-refused-2'),
    );
    emu.clearCalls();
    expect((await failure(h.run(h.acts.createBatch, input))).nonRetryable).toBe(true);
    expect(routes(emu)).toEqual([
      'batches.list:200',
      'files.list:200',
      'batches.create:400',
      'files.delete:200',
    ]);
    expect(await exists(emu, upload.id)).toBe(false);
  });
});

describe('a provider without file listing', () => {
  test('uploads without the lookup; a lost create is still adopted by its content tag', async () => {
    const chunk = await staged('wf-nolist', 'bare');
    const input = { provider: 'bare', workflowId: 'wf-nolist', chunk, endpoint: ENDPOINT };
    bare.setFaults({ dropConnection: { nextN: 1, afterHandler: true, only: 'batches.create' } });
    expect((await failure(h.run(h.acts.createBatch, input))).type).toBe('ProviderUnreachable');
    expect(routes(bare)).toEqual([
      'batches.list:200',
      'files.list:405',
      'files.create:200',
      'batches.create:0',
    ]);
    bare.clearCalls();
    const retry = await h.run(h.acts.createBatch, input);
    expect(retry.adopted).toBe(true);
    expect(routes(bare)).toEqual(['batches.list:200']);
    expect(await batchesTagged(bare, bare.url, 'wf-nolist')).toHaveLength(1);

    // A fresh create on it: list refused, upload, create.
    const other = await staged('wf-nolist-2', 'bare');
    bare.clearCalls();
    const created = await h.run(h.acts.createBatch, { ...input, workflowId: 'wf-nolist-2', chunk: other });
    expect(created).toMatchObject({ adopted: false, reusedFile: false });
    expect(routes(bare)).toEqual([
      'batches.list:200',
      'files.list:405',
      'files.create:200',
      'batches.create:200',
    ]);
  });
});

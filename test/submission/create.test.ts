// createBatch: streamed upload + create, and adoption of what a lost-response attempt already did.
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { SubmissionChunk } from '../../activities/submission/types';
import { uploadName } from '../../activities/submission/create';
import { KEY, client } from '../emulator/helpers';
import { ENDPOINT, chat, failure, harness, writeJsonl, type Harness } from './helpers';

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
beforeEach(() => {
  for (const e of [emu, ds]) {
    e.setFaults({});
    e.clearCalls();
  }
});

async function staged(
  name: string,
  provider = 'emu',
  n = 3,
  model = 'gpt-4o-mini',
): Promise<SubmissionChunk> {
  const lines = Array.from({ length: n }, (_, i) => chat(`${name}-${i}`, `question ${i}`, model));
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
  expect(routes(emu)).toEqual([
    'batches.list:200',
    'files.list:200',
    'files.create:200',
    'batches.create:200',
  ]);
  const f = await client(emu).files.retrieve(res.inputFileId);
  expect(f).toMatchObject({ bytes: chunk.bytes, filename: uploadName('wf-create', 0), purpose: 'batch' });
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
    (f) => f.filename === uploadName('wf-lost-upload', 0),
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
  // Someone (an earlier attempt) uploaded under our name and created a batch whose metadata we cannot see.
  const c = client(ds, ds.compatibleUrl);
  const { createReadStream } = await import('node:fs');
  const file = await c.files.create({
    file: await import('openai').then((m) =>
      m.toFile(createReadStream(chunk.path), uploadName('wf-ds-hidden', 0)),
    ),
    purpose: 'batch',
  });
  const hidden = await c.batches.create({
    input_file_id: file.id,
    endpoint: ENDPOINT,
    completion_window: '24h',
  });
  const res = await h.run(h.acts.createBatch, {
    provider: 'ds',
    workflowId: 'wf-ds-hidden',
    chunk,
    endpoint: ENDPOINT,
  });
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

// createBatch's upload on the wire: streamed with a known Content-Length, byte for byte, with the key, without
// the fetch redirect mode that makes Node's fetch buffer the whole body (memory is measured in
// scripts/bench-submission.ts, not here), and failing mid-body as a retryable ProviderUnreachable.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ProviderRegistry } from '../../activities/providers';
import { createBatch, uploadName } from '../../activities/submission/create';
import { contentKeyOf } from '../../activities/submission/content-key';
import { multipartBody } from '../../activities/submission/multipart';
import type { CreateBatchInput, CreateBatchResult } from '../../activities/submission/types';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { KEY, client } from '../emulator/helpers';
import { ENDPOINT, chat, failure } from './helpers';

const MB = 1024 * 1024;

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
}

/** What the proxy does with POST .../files: pass it on, cut the connection mid-body, or stop reading it. */
type Mode = { kind: 'pass' } | { kind: 'cut'; afterBytes: number } | { kind: 'stall' };

/** A recording pass-through proxy in front of the emulator: sees the request as it is on the wire. */
async function startProxy(target: string) {
  const seen: Seen[] = [];
  let mode: Mode = { kind: 'pass' };
  const server: Server = createServer((req, res) => {
    const rec: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0 };
    seen.push(rec);
    const isUpload = rec.method === 'POST' && rec.url.endsWith('/files');
    if (isUpload && mode.kind === 'stall') {
      req.pause();
      return;
    }
    const up = request(`${target}${rec.url}`, { method: rec.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    const cut = mode.kind === 'cut' && isUpload ? mode.afterBytes : Infinity;
    req.on('data', (c: Buffer) => {
      rec.bodyBytes += c.length;
      if (rec.bodyBytes > cut) {
        req.socket.destroy();
        up.destroy();
      }
    });
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    setMode: (m: Mode) => (mode = m),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

let emu: EmulatorHandle;
let proxy: Awaited<ReturnType<typeof startProxy>>;
let dir: string;
let providers: ProviderRegistry;
/** What the SDK handed to fetch, per request. */
let fetchInits: { url: string; init: RequestInit | undefined }[] = [];
let heartbeats: { bytesSent?: number }[] = [];
let chunk: NonNullable<CreateBatchInput['chunk']>;

const run = (input: CreateBatchInput): Promise<CreateBatchResult> => {
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  env.on('heartbeat', (d: { bytesSent?: number }) => heartbeats.push(d));
  return env.run(() => createBatch(providers, input));
};
const input = (workflowId: string, provider = 'emu'): CreateBatchInput => ({
  provider,
  workflowId,
  chunk,
  endpoint: ENDPOINT,
});
const uploadsNamed = async (name: string) =>
  (await client(emu).files.list({ purpose: 'batch' })).data.filter((f) => f.filename === name);

beforeAll(async () => {
  emu = await startEmulator({ clock: 'manual', apiKey: KEY, startTime: 1_700_000_000 });
  const emuUrl = new URL(emu.url);
  proxy = await startProxy(emuUrl.origin);
  dir = await mkdtemp(join(tmpdir(), 'bk-upload-'));
  const baseURL = `${proxy.url}${emuUrl.pathname}`;
  const spy: typeof fetch = (url, init) => {
    fetchInits.push({ url: String(url instanceof Request ? url.url : url), init });
    return fetch(url, init);
  };
  providers = new ProviderRegistry(
    [
      { name: 'emu', baseURL, apiKeyEnv: 'EMU_KEY', kind: 'openai', timeoutMs: 60_000 },
      { name: 'slow', baseURL, apiKeyEnv: 'EMU_KEY', kind: 'openai', timeoutMs: 1500 },
    ],
    { EMU_KEY: KEY },
    (p, apiKey) =>
      new OpenAI({ apiKey, baseURL: p.baseURL, maxRetries: 0, timeout: p.timeoutMs, fetch: spy }),
  );

  // ~24 MB in 1 MB reads, with multi-byte UTF-8 so a char/byte mix-up would show.
  const path = join(dir, 'chunk-000.jsonl');
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  let bytes = 0;
  const filler = 'héllo wörld 日本語 🚀 '.repeat(150);
  for (let i = 0; bytes < 24 * MB; i++) {
    const line = Buffer.from(JSON.stringify(chat(`req-${i}`, `${i} ${filler}`)) + '\n');
    hash.update(line);
    bytes += line.length;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  chunk = { index: 0, path, bytes, sha256: hash.digest('hex') };
});
afterAll(async () => {
  await proxy?.close();
  await emu?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  proxy.setMode({ kind: 'pass' });
  proxy.seen.length = 0;
  fetchInits = [];
  heartbeats = [];
  emu.setFaults({});
});

const uploads = () => proxy.seen.filter((s) => s.method === 'POST' && s.url.endsWith('/files'));

test('a multi-MB chunk arrives byte for byte, in one request with Content-Length and the key', async () => {
  const res = await run(input('wf-bytes'));
  expect(res).toMatchObject({ adopted: false, reusedFile: false });

  const [req] = uploads();
  expect(uploads()).toHaveLength(1);
  expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
  expect(req.headers['content-type']).toMatch(/^multipart\/form-data; boundary=\S+$/);
  expect(req.headers['transfer-encoding']).toBeUndefined();
  expect(Number(req.headers['content-length'])).toBe(req.bodyBytes);
  expect(req.bodyBytes).toBeGreaterThan(chunk.bytes);
  expect(req.bodyBytes).toBeLessThan(chunk.bytes + 1024);

  // The streamed body must not go through fetch's redirect-following clone (a tee that buffers it all).
  const sent = fetchInits.filter((f) => f.init?.method === 'POST' && f.url.endsWith('/files'));
  expect(sent).toHaveLength(1);
  expect(sent[0].init?.redirect).toBe('error');
  expect(sent[0].init?.body).toBeInstanceOf(ReadableStream);

  const f = await client(emu).files.retrieve(res.inputFileId);
  expect(f).toMatchObject({
    bytes: chunk.bytes,
    filename: uploadName('wf-bytes', 0, contentKeyOf(input('wf-bytes'))),
    purpose: 'batch',
  });
  const content = await client(emu).files.content(res.inputFileId);
  const hash = createHash('sha256');
  let n = 0;
  for await (const c of content.body as ReadableStream<Uint8Array>) {
    hash.update(c);
    n += c.byteLength;
  }
  expect(n).toBe(chunk.bytes);
  expect(hash.digest('hex')).toBe(chunk.sha256);
  expect(Math.max(...heartbeats.map((h) => h.bytesSent ?? 0))).toBe(chunk.bytes);
});

test('the connection cut mid-body is a retryable ProviderUnreachable; the retry uploads it once', async () => {
  proxy.setMode({ kind: 'cut', afterBytes: 4 * MB });
  const err = await failure(run(input('wf-cut')));
  expect(err.type).toBe('ProviderUnreachable');
  expect(err.nonRetryable).toBe(false);
  expect(await uploadsNamed(uploadName('wf-cut', 0, contentKeyOf(input('wf-cut'))))).toHaveLength(0);

  proxy.setMode({ kind: 'pass' });
  const retry = await run(input('wf-cut'));
  expect(retry).toMatchObject({ adopted: false, reusedFile: false });
  const files = await uploadsNamed(uploadName('wf-cut', 0, contentKeyOf(input('wf-cut'))));
  expect(files.map((f) => [f.id, f.bytes])).toEqual([[retry.inputFileId, chunk.bytes]]);
});

test('a provider that stops reading: the upload waits (reads no further), then times out as retryable', async () => {
  proxy.setMode({ kind: 'stall' });
  const err = await failure(run(input('wf-stall', 'slow')));
  expect(err.type).toBe('ProviderUnreachable');
  expect(err.nonRetryable).toBe(false);
  // (Outside jest it reads "Request timed out."; under jest's realm the SDK cannot tell undici's AbortError
  // from other failures and says "Connection error." Either way: retryable, ProviderUnreachable.)
  // Backpressure: only what fits in socket buffers and stream queues was read from disk, not the file.
  const read = Math.max(0, ...heartbeats.map((h) => h.bytesSent ?? 0));
  expect(read).toBeLessThan(chunk.bytes / 2);
});

test('multipartBody: Content-Length is the exact byte length; a source shorter than announced fails', async () => {
  async function* data(parts: string[]) {
    for (const p of parts) yield Buffer.from(p);
  }
  const collect = async (body: AsyncIterable<Uint8Array>) => {
    const out: Buffer[] = [];
    for await (const c of body) out.push(Buffer.from(c));
    return Buffer.concat(out);
  };
  const text = ['{"a":"日本"}\n', '{"b":"🚀"}\n'];
  const size = Buffer.byteLength(text.join(''));
  const m = multipartBody(
    { purpose: 'batch' },
    { field: 'file', filename: 'a"b.jsonl', contentType: 'application/jsonl', size, data: data(text) },
  );
  const body = await collect(m.body);
  expect(body.length).toBe(m.contentLength);
  const boundary = /boundary=(\S+)$/.exec(m.contentType)?.[1] ?? '';
  expect(body.toString()).toBe(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a%22b.jsonl"\r\n` +
      `Content-Type: application/jsonl\r\n\r\n${text.join('')}\r\n--${boundary}--\r\n`,
  );
  const short = multipartBody(
    {},
    { field: 'file', filename: 'x', contentType: 'text/plain', size: size + 1, data: data(text) },
  );
  await expect(collect(short.body)).rejects.toThrow(/expected/);
});

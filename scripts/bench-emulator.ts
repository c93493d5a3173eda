/**
 * Emulator benchmark: retrieve throughput (openai SDK and raw fetch) and peak RSS of the emulator process
 * while it takes a 50,000-line ~200 MB input from upload to completed output.
 *
 * The emulator runs in a child process so its RSS and CPU are its own. Everything targets 127.0.0.1 and every
 * loop is bounded in time. Run: npm run bench:emulator
 * Options (env): BENCH_SECONDS (5), BENCH_CONCURRENCY (16), BENCH_LINES (50000), BENCH_MB (195).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const LINES = Number(process.env.BENCH_LINES ?? 50_000);
const TARGET_MB = Number(process.env.BENCH_MB ?? 195);
const KEY = 'sk-bench';

interface Child {
  proc: ChildProcess;
  url: string;
  adminUrl: string;
}

/** Starts the emulator in a child node process (same execArgv, so a TS require hook carries over). */
async function startChild(opts: Record<string, unknown>): Promise<Child> {
  const entry = require.resolve('../src/emulator');
  const code = `
    const { startEmulator } = require(${JSON.stringify(entry)});
    startEmulator(${JSON.stringify(opts)}).then((h) => {
      process.stdout.write(JSON.stringify({ url: h.url, adminUrl: h.adminUrl }) + '\\n');
      process.on('SIGTERM', () => { h.close().then(() => process.exit(0)); });
    });`;
  const proc = spawn(process.execPath, [...process.execArgv, '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buf = '';
  for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
    buf += chunk.toString();
    const nl = buf.indexOf('\n');
    if (nl >= 0) return { proc, ...(JSON.parse(buf.slice(0, nl)) as { url: string; adminUrl: string }) };
  }
  throw new Error('emulator child exited before printing its URL');
}

async function stopChild(c: Child): Promise<void> {
  c.proc.kill('SIGTERM');
  if (c.proc.exitCode === null) await once(c.proc, 'exit');
}

async function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Samples the child's RSS every 25 ms while fn runs; returns fn's duration and the peak seen. */
async function sampled<T>(
  pid: number,
  fn: () => Promise<T>,
): Promise<{ value: T; ms: number; peakMb: number }> {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await procStatusKb(pid, 'VmRSS'));
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const t = performance.now();
  try {
    const value = await fn();
    return { value, ms: performance.now() - t, peakMb: peak / 1024 };
  } finally {
    running = false;
    await loop;
  }
}

async function loopFor(seconds: number, concurrency: number, call: () => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await call();
        n += 1;
      }
    }),
  );
  return n / seconds;
}

async function throughput(): Promise<string[][]> {
  const child = await startChild({ clock: 'manual', apiKey: KEY });
  try {
    const client = new OpenAI({ apiKey: KEY, baseURL: child.url, maxRetries: 0 });
    const line = JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
    });
    const file = await client.files.create({
      file: await OpenAI.toFile(Buffer.from(`${line}\n`), 'in.jsonl'),
      purpose: 'batch',
    });
    const b = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await loopFor(0.5, CONCURRENCY, () => client.batches.retrieve(b.id)); // warm-up
    const sdk = await loopFor(SECONDS, CONCURRENCY, () => client.batches.retrieve(b.id));
    const headers = { authorization: `Bearer ${KEY}` };
    const raw = await loopFor(SECONDS, CONCURRENCY, async () => {
      const res = await fetch(`${child.url}/batches/${b.id}`, { headers });
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      await res.arrayBuffer();
    });
    return [
      ['batches.retrieve, openai SDK', `${CONCURRENCY} loops x ${SECONDS}s`, `${sdk.toFixed(0)} req/s`],
      ['batches.retrieve, raw fetch', `${CONCURRENCY} loops x ${SECONDS}s`, `${raw.toFixed(0)} req/s`],
    ];
  } finally {
    await stopChild(child);
  }
}

/** Writes LINES chat requests padded so the file lands near TARGET_MB, through a stream. */
async function generateInput(path: string): Promise<number> {
  const padTo = Math.floor((TARGET_MB * 1024 * 1024) / LINES);
  const out = createWriteStream(path);
  for (let i = 0; i < LINES; i++) {
    const base = { custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions' };
    const skeleton = JSON.stringify({
      ...base,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: '' }] },
    });
    const content = `question ${i} `.padEnd(Math.max(1, padTo - skeleton.length - 1), 'x');
    const line = JSON.stringify({
      ...base,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
    });
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return (await stat(path)).size;
}

/** multipart/form-data upload with the file piped from disk, so neither side buffers it. */
async function uploadStreaming(url: string, path: string): Promise<string> {
  const boundary = `----bench${Date.now()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n` +
      `Content-Type: application/jsonl\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const size = (await stat(path)).size;
  const req = request(`${url}/files`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${KEY}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': head.length + size + tail.length,
    },
  });
  const response = once(req, 'response') as Promise<[import('node:http').IncomingMessage]>;
  req.write(head);
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    if (!req.write(chunk)) await once(req, 'drain');
  }
  req.end(tail);
  const [res] = await response;
  let body = '';
  for await (const c of res as AsyncIterable<Buffer>) body += c.toString();
  if (res.statusCode !== 200) throw new Error(`upload failed: ${res.statusCode} ${body}`);
  return (JSON.parse(body) as { id: string }).id;
}

async function memory(): Promise<string[][]> {
  const dir = await mkdtemp(join(tmpdir(), 'bk-bench-'));
  const input = join(dir, 'input.jsonl');
  const child = await startChild({
    clock: 'manual',
    apiKey: KEY,
    validatingSeconds: 1,
    requestSeconds: 0.001,
    finalizingSeconds: 1,
  });
  const pid = child.proc.pid!;
  try {
    const bytes = await generateInput(input);
    const client = new OpenAI({ apiKey: KEY, baseURL: child.url, maxRetries: 0, timeout: 600_000 });
    const admin = async (seconds: number) => {
      const r = await fetch(`${child.adminUrl}/advance`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ seconds }),
      });
      if (r.status !== 200) throw new Error(`advance: ${r.status}`);
    };
    const idle = (await procStatusKb(pid, 'VmRSS')) / 1024;
    const up = await sampled(pid, () => uploadStreaming(child.url, input));
    const created = await client.batches.create({
      input_file_id: up.value,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const val = await sampled(pid, async () => {
      await admin(1); // advance waits for validation
      return client.batches.retrieve(created.id);
    });
    if (val.value.status !== 'in_progress') throw new Error(`after validation: ${val.value.status}`);
    const fin = await sampled(pid, async () => {
      await admin(3600); // runs every request and writes the output file
      return client.batches.retrieve(created.id);
    });
    if (fin.value.status !== 'completed') throw new Error(`after finalize: ${fin.value.status}`);
    const dl = await sampled(pid, async () => {
      const res = await client.files.content(fin.value.output_file_id!);
      let n = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.length;
      return n;
    });
    const hwm = (await procStatusKb(pid, 'VmHWM')) / 1024;
    const mb = (n: number) => `${n.toFixed(0)} MB`;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    return [
      ['emulator RSS idle', '', mb(idle)],
      [
        `upload ${LINES} lines, ${(bytes / 1048576).toFixed(0)} MB (streamed)`,
        s(up.ms),
        `peak ${mb(up.peakMb)}`,
      ],
      ['validate (advance past validating)', s(val.ms), `peak ${mb(val.peakMb)}`],
      [`run + finalize, output ${(dl.value / 1048576).toFixed(0)} MB`, s(fin.ms), `peak ${mb(fin.peakMb)}`],
      ['download output (streamed)', s(dl.ms), `peak ${mb(dl.peakMb)}`],
      ['emulator peak RSS (VmHWM)', '', mb(hwm)],
    ];
  } finally {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  |  ')).join('\n');
}

async function main(): Promise<void> {
  const rows = [['measure', 'time', 'result'], ...(await throughput()), ...(await memory())];
  console.log(`node ${process.version}, emulator in a child process, 127.0.0.1\n`);
  console.log(table(rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

// Benchmark of the submission activities on big files: generate -> validate -> upload+create -> download.
// The emulator runs in a child process so only the worker side's memory is measured.
// Run: npx tsx scripts/bench-submission.ts [sizeMB ...]   (default: 50 200)
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ProviderRegistry } from '../activities/providers';
import { createSubmissionActivities } from '../activities/submission';
import { startEmulator } from '../src/emulator';

const KEY = 'sk-bench';
const LINES = 50_000;
const MB = 1024 * 1024;

async function childEmulator(): Promise<void> {
  const emu = await startEmulator({
    clock: 'manual',
    apiKey: KEY,
    host: '127.0.0.1',
    requestSeconds: 0,
    validatingSeconds: 1,
    finalizingSeconds: 1,
    failureRate: 0.02,
  });
  console.log(JSON.stringify({ url: emu.url, adminUrl: emu.adminUrl }));
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await emu.close();
}

async function startChild(): Promise<{ child: ChildProcess; url: string; adminUrl: string }> {
  const child = spawn(process.execPath, [...process.execArgv, __filename, '--child-emulator'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [first] = (await once(rl, 'line')) as [string];
  rl.close();
  return { child, ...(JSON.parse(first) as { url: string; adminUrl: string }) };
}

/** Streams LINES chat requests totalling about `bytes`; every 10th is a bare body (wrapped by validation). */
async function generate(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const pad = Math.max(0, Math.floor(bytes / LINES) - 150);
  const filler = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(pad / 27)).slice(0, pad);
  for (let i = 0; i < LINES; i++) {
    const body = { messages: [{ role: 'user', content: `q${i} ${filler}` }], max_tokens: 16 };
    const line =
      i % 10 === 0
        ? JSON.stringify(body)
        : JSON.stringify({
            custom_id: `req-${i}`,
            method: 'POST',
            url: '/v1/chat/completions',
            body: { model: 'gpt-4o-mini', ...body },
          });
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Peak RSS, and peak ArrayBuffer bytes (where a buffered upload or download shows up, apart from heap and code). */
class RssSampler {
  peak = 0;
  peakArrayBuffers = 0;
  private timer: NodeJS.Timeout | undefined;
  start(): void {
    this.peak = 0;
    this.peakArrayBuffers = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), 50);
  }
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
  private sample(): void {
    const m = process.memoryUsage();
    this.peak = Math.max(this.peak, m.rss);
    this.peakArrayBuffers = Math.max(this.peakArrayBuffers, m.arrayBuffers);
  }
}

interface Row {
  size: string;
  step: string;
  seconds: string;
  peakRssMB: string;
  peakArrayBuffersMB: string;
  note: string;
}

async function step<T>(
  rows: Row[],
  size: string,
  name: string,
  fn: () => Promise<T>,
  note: (r: T) => string,
): Promise<T> {
  const s = new RssSampler();
  s.start();
  const t0 = performance.now();
  const r = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const peak = s.stop();
  rows.push({
    size,
    step: name,
    seconds: seconds.toFixed(2),
    peakRssMB: (peak / MB).toFixed(0),
    peakArrayBuffersMB: (s.peakArrayBuffers / MB).toFixed(0),
    note: note(r),
  });
  console.error(
    `  ${size} ${name}: ${seconds.toFixed(2)} s, peak RSS ${(peak / MB).toFixed(0)} MB, ` +
      `peak ArrayBuffers ${(s.peakArrayBuffers / MB).toFixed(0)} MB  ${note(r)}`,
  );
  return r;
}

async function main(): Promise<void> {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const targets = sizes.length ? sizes : [50, 200];
  const dir = await mkdtemp(join(tmpdir(), 'bk-bench-submission-'));
  const { child, url, adminUrl } = await startChild();
  const providers = new ProviderRegistry(
    [{ name: 'emu', baseURL: url, apiKeyEnv: 'BENCH_KEY', kind: 'openai', timeoutMs: 600_000 }],
    {
      BENCH_KEY: KEY,
    },
  );
  const acts = createSubmissionActivities({
    providers,
    resultsDir: join(dir, 'results'),
    stagingDir: join(dir, 'staging'),
  });
  const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> =>
    env().run(fn, ...args);
  const rows: Row[] = [];
  console.error(`baseline RSS ${(process.memoryUsage().rss / MB).toFixed(0)} MB; emulator pid ${child.pid}`);
  try {
    for (const sizeMB of targets) {
      // OpenAI's limit is 200 MiB; stay a little under so the 200 MB run is one chunk.
      const bytes = Math.min(sizeMB * 1_000_000, 200 * MB - 2 * MB);
      const size = `${sizeMB}MB`;
      const src = join(dir, `input-${sizeMB}.jsonl`);
      await step(
        rows,
        size,
        'generate',
        () => generate(src, bytes),
        () => '',
      );
      const srcBytes = (await stat(src)).size;
      const v = await step(
        rows,
        size,
        'validate+stage',
        () =>
          run(acts.validateSubmission, {
            provider: 'emu',
            submissionId: `bench-${sizeMB}`,
            source: { path: src },
            endpoint: '/v1/chat/completions',
            defaultModel: 'gpt-4o-mini',
          }),
        (r) =>
          `${r.lines} lines, ${(srcBytes / MB).toFixed(1)} MB in, ${r.chunks.length} chunk(s), ${r.wrapped} wrapped`,
      );
      const c = await step(
        rows,
        size,
        'upload+create',
        () =>
          run(acts.createBatch, {
            provider: 'emu',
            workflowId: `bench-${sizeMB}`,
            chunk: v.chunks[0],
            endpoint: '/v1/chat/completions',
          }),
        (r) => `${r.snapshot.id}`,
      );
      // The emulator validates and writes results when its clock moves (in the child: not measured).
      const client = providers.client('emu');
      let batch = await client.batches.retrieve(c.snapshot.id);
      for (
        let i = 0;
        i < 600 && !['completed', 'failed', 'expired', 'cancelled'].includes(batch.status);
        i++
      ) {
        await fetch(`${adminUrl}/advance`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ seconds: 5 }),
        });
        batch = await client.batches.retrieve(c.snapshot.id);
      }
      if (batch.status !== 'completed') throw new Error(`batch ended ${batch.status}`);
      const d = await step(
        rows,
        size,
        'download',
        () =>
          run(acts.downloadResults, {
            provider: 'emu',
            batchId: batch.id,
            outputFileId: batch.output_file_id ?? null,
            errorFileId: batch.error_file_id ?? null,
            inputPath: v.chunks[0].path,
          }),
        (r) =>
          `${r.files.map((f) => `${f.kind} ${(f.bytes / MB).toFixed(1)} MB`).join(', ')}; ` +
          `${r.summary.succeeded} ok, ${r.summary.failed} failed, ${r.tokens.totalTokens} tokens`,
      );
      await step(
        rows,
        size,
        'resubmission',
        () => run(acts.buildResubmission, { batchId: batch.id, inputPath: v.chunks[0].path }),
        (r) => `${r.lines} lines`,
      );
      if (d.summary.succeeded + d.summary.failed !== LINES) throw new Error('summary does not add up');
      await rm(src, { force: true });
    }
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await rm(dir, { recursive: true, force: true });
  }
  console.log('| size | step | wall s | peak RSS MB (worker side) | peak ArrayBuffers MB | note |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.size} | ${r.step} | ${r.seconds} | ${r.peakRssMB} | ${r.peakArrayBuffersMB} | ${r.note} |`,
    );
}

if (process.argv.includes('--child-emulator')) void childEmulator();
else
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });

/**
 * Push vs poll, side by side in one run (npm run bench:webhooks): the same emulator (fast clock), the same
 * Temporal dev server and the same worker track BENCH_BATCHES (10) 24 h batches with polling only, then as many
 * with the emulator's signed webhooks going through the real receiver (`startWebhookReceiver`).
 *
 * The emulator runs SPEED (1440) times faster than the wall clock, so a 24 h batch takes a minute. The polling
 * run's poll policy is scaled by the same factor, so its provider calls and its lateness in *provider* seconds are
 * what the default policy does over a real 24 h. The push path does not scale (a webhook is as fast at any
 * speed), so its lateness is measured in wall seconds, from the batch's completion to the retrieve that saw it.
 * Both are read from the emulator's call log, never from the code under test. At this speed every millisecond of
 * timer and workflow-task latency on the dev server is 1.4 provider seconds, which inflates the polling run's
 * lateness; `npm run bench:lifecycle` has the unscaled figure on the time-skipping server.
 */
import pino from 'pino';
import { Worker } from '@temporalio/worker';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActivities } from '../activities';
import { ProviderRegistry } from '../activities/providers';
import { BatchkeeperClient } from '../src/client';
import { startEmulator, type EmulatorHandle } from '../src/emulator';
import { startWebhookReceiver } from '../src/webhooks/receiver';
import { registerSearchAttributes } from '../src/worker/search-attributes';
import { createLocalEnv } from '../test/client/local-server';
import { createBatch, freePort, nearestRank, openaiClient } from '../test/e2e/harness';
import { uniqueTaskQueue } from '../test/helpers/worker';
import { workflowBundle } from '../test/helpers/workflow-bundle';
import type { PollPolicy } from '../workflows/contract';
import { DEFAULT_POLL_POLICY } from '../workflows/shared/poll-policy';

const BATCHES = Number(process.env.BENCH_BATCHES ?? 10);
const SPEED = Number(process.env.BENCH_SPEED ?? 1440);
const REQUESTS = 100;
/** 100 requests x 828 s + 60 s validating + 120 s finalizing: a 23 h batch in a 24 h window. */
const REQUEST_SECONDS = 828;
const SECRET = `whsec_${Buffer.from('batchkeeper-bench-webhook-secret').toString('base64')}`;

interface Row {
  mode: string;
  calls: number[];
  /** Seconds from completion to the retrieve that saw it, in the mode's own unit (see the header). */
  lateness: number[];
  wallSeconds: number;
}

function scaled(policy: PollPolicy, factor: number): Partial<PollPolicy> {
  return {
    initialIntervalSeconds: policy.initialIntervalSeconds / factor,
    maxIntervalSeconds: policy.maxIntervalSeconds / factor,
    minIntervalSeconds: policy.minIntervalSeconds / factor,
    cancelPollIntervalSeconds: policy.cancelPollIntervalSeconds / factor,
  };
}

async function runMode(mode: 'poll' | 'push', emu: EmulatorHandle, bk: BatchkeeperClient): Promise<Row> {
  const openai = openaiClient(emu.url, emu.apiKey);
  const started = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < BATCHES; i++) {
    // Slightly different sizes, so the batches do not all finish at once.
    const { batchId } = await createBatch(openai, REQUESTS - i, `${mode}-${i}`);
    ids.push(batchId);
    await bk.track(batchId, { provider: mode, pollPolicy: scaled(DEFAULT_POLL_POLICY, SPEED) });
  }
  const outcomes = await Promise.all(ids.map((id) => bk.waitForOutcome(id, { timeoutMs: 5 * 60_000 })));
  const calls = emu.calls();
  const row: Row = { mode, calls: [], lateness: [], wallSeconds: (Date.now() - started) / 1000 };
  for (const [i, id] of ids.entries()) {
    const mine = calls.filter((c) => c.route === 'batches.retrieve' && c.path.includes(id));
    row.calls.push(mine.length);
    const completedAt = outcomes[i].snapshot.timestamps.completedAt ?? NaN;
    const seen = mine.find((c) => c.clockAt >= completedAt);
    const providerSeconds = seen ? seen.clockAt - completedAt : NaN;
    // Push: the wall time from completion to the confirming retrieve (the path does not speed up).
    row.lateness.push(mode === 'push' ? providerSeconds / SPEED : providerSeconds);
  }
  return row;
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return `mean ${mean.toFixed(1)}, p50 ${nearestRank(sorted, 50).toFixed(2)}, p99 ${nearestRank(sorted, 99).toFixed(2)}, max ${sorted[sorted.length - 1].toFixed(2)}`;
}

async function main(): Promise<void> {
  const port = await freePort();
  const emu = await startEmulator({
    speed: SPEED,
    validatingSeconds: 60,
    requestSeconds: REQUEST_SECONDS,
    finalizingSeconds: 120,
    webhookUrls: `http://127.0.0.1:${port}/webhooks/push`,
    webhookSecret: SECRET,
  });
  const env = await createLocalEnv();
  const registered = await registerSearchAttributes(env.connection.operatorService, 'default');
  if ('error' in registered) throw new Error(`registering search attributes: ${registered.error}`);
  const taskQueue = uniqueTaskQueue('bench-webhooks');
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-wh-'));
  const profile = { baseURL: emu.url, apiKeyEnv: 'BENCH_EMU_KEY', kind: 'openai' as const };
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({
      providers: new ProviderRegistry(
        [
          { name: 'poll', ...profile },
          { name: 'push', ...profile, webhookSecretEnv: 'BENCH_WEBHOOK_SECRET' },
        ],
        { BENCH_EMU_KEY: emu.apiKey },
      ),
      outcomes: { record: async () => undefined },
      resultsDir: join(dir, 'results'),
      stagingDir: join(dir, 'staging'),
    }),
  });
  const bk = new BatchkeeperClient(env.client, { taskQueue });
  const rows: Row[] = [];
  await worker.runUntil(async () => {
    rows.push(await runMode('poll', emu, bk));
    // The receiver starts only now: the polling run's webhooks had nowhere to go (and changed nothing).
    const receiver = await startWebhookReceiver({
      client: env.client,
      endpoints: [{ profile: 'push', secret: SECRET, trackUnknown: false }],
      taskQueue,
      logger: pino({ level: 'warn' }),
      port,
    });
    try {
      rows.push(await runMode('push', emu, bk));
    } finally {
      await receiver.close();
    }
  });
  await emu.close();
  await env.teardown();

  console.log(
    `\n${BATCHES} batches of ~23 h (24 h window) per mode, emulator at ${SPEED}x, same dev server and worker`,
  );
  console.log('| mode | provider calls per batch | terminal seen after the batch completed | wall |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) {
    const unit = r.mode === 'push' ? 'wall s (webhook path)' : 'provider s (poll schedule)';
    console.log(
      `| ${r.mode} | ${stats(r.calls)} | ${stats(r.lateness)} ${unit} | ${r.wallSeconds.toFixed(0)} s |`,
    );
  }
  const [poll, push] = rows;
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  console.log(
    `\nwebhooks: ${(mean(poll.calls) / mean(push.calls)).toFixed(1)}x fewer provider calls; ` +
      `goals: <= 20 calls per 24 h batch (max ${Math.max(...push.calls)}), p99 lateness <= 5 s ` +
      `(${nearestRank(
        [...push.lateness].sort((a, b) => a - b),
        99,
      ).toFixed(2)} s)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

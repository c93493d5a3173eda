// Admission control against the emulator's enqueued-token limit: 20 parts whose tokens total 5x the limit,
// submitted without a token budget (how many batches the provider refuses) and with one (none), wall time next to
// the ideal (total tokens / limit x one batch's duration). Time-skipping server; the emulator runs on a real clock,
// so batch durations and the wall time are real.
// Run: npm run bench:budget
import OpenAI from 'openai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestTokens } from '../activities/tokens/estimate';
import { startEmulator } from '../src/emulator';
import { emulatorActivities } from '../test/helpers/emulator-activities';
import { createTimeSkippingEnv } from '../test/helpers/temporal-env';
import { withWorker } from '../test/helpers/worker';
import { submitBatch } from '../workflows';
import { submitWorkflowId } from '../workflows/contract';

const PARTS = 20;
const LINES_PER_PART = 10;
const OVERSUBSCRIBED = 5;
const TIMING = { validatingSeconds: 0.2, requestSeconds: 0.1, finalizingSeconds: 0.2 };
const BATCH_SECONDS =
  TIMING.validatingSeconds + LINES_PER_PART * TIMING.requestSeconds + TIMING.finalizingSeconds;

const body = (model: string) => ({
  model,
  messages: [{ role: 'user', content: 'Write one sentence about the sea.' }],
});

async function run(admission: boolean) {
  const model = admission ? 'gpt-4o-mini-budget' : 'gpt-4o-mini-nobudget';
  const partTokens =
    LINES_PER_PART * requestTokens('tiktoken:o200k_base', '/v1/chat/completions', body(model));
  const total = PARTS * partTokens;
  const limit = total / OVERSUBSCRIBED;
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-budget-'));
  const path = join(dir, 'in.jsonl');
  writeFileSync(
    path,
    Array.from({ length: PARTS * LINES_PER_PART }, (_, i) =>
      JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: body(model) }),
    ).join('\n') + '\n',
  );
  const emu = await startEmulator({ ...TIMING, enqueuedTokenLimit: { [model]: limit } });
  const env = await createTimeSkippingEnv();
  try {
    const activities = emulatorActivities(
      emu,
      dir,
      admission
        ? { tokenBudgets: { [model]: { enqueuedTokens: limit } }, workflowClient: env.client.workflow }
        : undefined,
    );
    const started = Date.now();
    const outcome = await withWorker(env, activities, async (taskQueue) =>
      (
        await env.client.workflow.start(submitBatch, {
          taskQueue,
          workflowId: submitWorkflowId(`bench-budget-${admission ? 'on' : 'off'}`),
          args: [
            {
              provider: 'emu',
              submission: {
                source: { path },
                endpoint: '/v1/chat/completions',
                limits: { maxLines: LINES_PER_PART },
              },
              pollPolicy: { initialIntervalSeconds: 1, maxIntervalSeconds: 2 },
            },
          ],
        })
      ).result(),
    );
    const wallSeconds = (Date.now() - started) / 1000;
    const api = new OpenAI({ apiKey: emu.apiKey, baseURL: emu.url, maxRetries: 0 });
    const batches: OpenAI.Batches.Batch[] = [];
    for await (const b of api.batches.list({ limit: 100 })) batches.push(b);
    const refused = batches.filter((b) => b.errors?.data?.some((e) => e.code === 'token_limit_exceeded'));
    const partsDone = new Set(
      outcome.batches.filter((b) => b.outcome?.status === 'completed').map((b) => b.chunkIndex),
    );
    return {
      admission,
      parts: PARTS,
      partTokens,
      limit,
      batchesCreated: batches.length,
      refusedTokenLimit: refused.length,
      partsCompleted: partsDone.size,
      submissionStatus: outcome.status,
      wallSeconds: Number(wallSeconds.toFixed(1)),
      idealSeconds: Number(((total / limit) * BATCH_SECONDS).toFixed(1)),
    };
  } finally {
    await env.teardown();
    await emu.close();
  }
}

async function main() {
  const rows = [await run(false), await run(true)];
  console.log(
    `one batch: ${BATCH_SECONDS.toFixed(1)} s (${LINES_PER_PART} requests); tokens total ${OVERSUBSCRIBED}x the limit`,
  );
  console.table(rows);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

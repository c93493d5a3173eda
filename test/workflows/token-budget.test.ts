// Admission control end to end on the time-skipping server: real activities, the emulator (enforcing its own
// enqueued-token limit, as OpenAI does) over HTTP, the tokenBudget workflow between submissions.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import OpenAI from 'openai';
import { requestTokens } from '../../activities/tokens/estimate';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../src/emulator';
import { submitBatch } from '../../workflows';
import { budgetStatusQuery, budgetWorkflowId, type BudgetView } from '../../workflows/budget-messages';
import { cancelSignal, submitStatusQuery, submitWorkflowId } from '../../workflows/messages';
import { FAST_EMULATOR, emulatorActivities } from '../helpers/emulator-activities';
import { watchOrphanedChildLocks } from '../helpers/child-lock-watcher';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { uniqueTaskQueue, withWorker } from '../helpers/worker';
import { workflowBundle } from '../helpers/workflow-bundle';
import { Worker } from '@temporalio/worker';

const env = useTimeSkippingEnv();
const dir = mkdtempSync(join(tmpdir(), 'bk-budget-'));
const fast = { initialIntervalSeconds: 1, maxIntervalSeconds: 2 };
const LINES_PER_PART = 4;

let emu: EmulatorHandle | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

/** Every line has the same text, so every part has the same tokens. */
const body = (model: string) => ({ model, messages: [{ role: 'user', content: 'Name a prime number.' }] });
const PART_TOKENS = LINES_PER_PART * requestTokens('tiktoken:o200k_base', '/v1/chat/completions', body('m'));

function partsFile(name: string, model: string, parts: number): string {
  const path = join(dir, `${name}.jsonl`);
  const lines = Array.from({ length: parts * LINES_PER_PART }, (_, i) =>
    JSON.stringify({
      custom_id: `${name}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: body(model),
    }),
  );
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** An emulator limiting `model` to `providerParts` parts, and activities whose profile budgets `budgetParts`. */
async function setup(model: string, budgetParts: number, providerParts: number, opts: EmulatorOptions = {}) {
  emu = await startEmulator({
    ...FAST_EMULATOR,
    cancellingSeconds: 0.1,
    enqueuedTokenLimit: { [model]: providerParts * PART_TOKENS },
    ...opts,
  });
  const activities = emulatorActivities(emu, dir, {
    tokenBudgets: { [model]: { enqueuedTokens: budgetParts * PART_TOKENS } },
    workflowClient: env.client.workflow,
  });
  const api = new OpenAI({ apiKey: emu.apiKey, baseURL: emu.url, maxRetries: 0 });
  return { emu, activities, api };
}

function start(taskQueue: string, name: string, model: string, parts: number, priority?: number) {
  return env.client.workflow.start(submitBatch, {
    taskQueue,
    workflowId: submitWorkflowId(name),
    args: [
      {
        provider: 'emu',
        submission: {
          source: { path: partsFile(name, model, parts) },
          endpoint: '/v1/chat/completions',
          limits: { maxLines: LINES_PER_PART },
        },
        pollPolicy: fast,
        priority,
      },
    ],
  });
}

const budgetView = (model: string): Promise<BudgetView> =>
  env.client.workflow.getHandle(budgetWorkflowId('emu', model)).query(budgetStatusQuery);

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never: ${what}`);
}

/** The emulator's batches in creation order, with the part (chunk index) and submission their tags name. */
async function createdBatches(api: OpenAI) {
  const all: OpenAI.Batches.Batch[] = [];
  for await (const b of api.batches.list({ limit: 100 })) all.push(b);
  return all.reverse().map((b) => ({
    id: b.id,
    status: b.status,
    tag: String(b.metadata?.batchkeeper_workflow_id),
    errors: b.errors,
  }));
}

test('parts wait in order, the status shows the tokens ahead, and every part runs without a provider refusal', async () => {
  const model = 'gpt-4o-mini-order';
  const { activities, api } = await setup(model, 2, 2);
  const { outcome, seenWaiting, budget } = await withWorker(env, activities, async (tq) => {
    const handle = await start(tq, 'order', model, 5);
    // While the first two run, the other three wait: the status says how many tokens are ahead of the first.
    const seenWaiting = await until('parts waiting for the budget', async () => {
      const v = await handle.query(submitStatusQuery);
      return v.tokenBudget && v.tokenBudget.waiting.length > 0 ? v.tokenBudget : undefined;
    });
    const outcome = await handle.result();
    // Queries of a closed budget (idle, it ends) replay on a worker: inside, while one runs.
    return { outcome, seenWaiting, budget: await budgetView(model) };
  });
  expect(seenWaiting.method).toBe('tiktoken:o200k_base');
  expect(seenWaiting.tokens).toBe(5 * PART_TOKENS);
  expect(seenWaiting.limit).toBe(2 * PART_TOKENS);
  expect(seenWaiting.waiting[0]).toMatchObject({ tokens: PART_TOKENS });
  expect(seenWaiting.waiting.map((w) => w.tokensAhead)).toContain(0);
  expect(outcome.status).toBe('completed');
  expect(outcome.batches).toHaveLength(5);
  expect(outcome.batches.every((b) => b.tokens === PART_TOKENS && !b.retried)).toBe(true);
  // Created in the parts' order, and the emulator, enforcing the same limit, refused none.
  const created = await createdBatches(api);
  expect(created.map((b) => b.tag)).toEqual([0, 1, 2, 3, 4].map((i) => `submit-order/r0/c${i}`));
  expect(created.every((b) => b.status === 'completed')).toBe(true);
  // Everything released.
  expect(budget).toMatchObject({ held: 0, holders: [], waiting: [], limitHits: 0 });
});

test('concurrent submissions share one budget: priority first, then age; none is refused by the provider', async () => {
  const model = 'gpt-4o-mini-shared';
  const { activities, api } = await setup(model, 1, 1);
  const outcomes = await withWorker(env, activities, async (tq) => {
    const a = await start(tq, 'shared-a', model, 3);
    await until('the first part of a admitted', async () =>
      (await budgetView(model)).held > 0 ? true : undefined,
    );
    const b = await start(tq, 'shared-b', model, 2);
    const c = await start(tq, 'shared-c', model, 2, 5);
    await until('c waiting too', async () =>
      (await c.query(submitStatusQuery)).tokenBudget?.waiting.length ? true : undefined,
    );
    // One after the other: each result() of the time-skipping client unlocks and locks time skipping.
    const all = [await a.result(), await b.result(), await c.result()];
    return { all, budget: await budgetView(model) };
  });
  expect(outcomes.budget).toMatchObject({ held: 0, waiting: [] });
  expect(outcomes.all.map((o) => o.status)).toEqual(['completed', 'completed', 'completed']);
  const created = (await createdBatches(api)).map((b) => b.tag.replace(/^submit-shared-/, ''));
  // a's first part held the budget; c (priority 5) went next, then a (older) before b.
  expect(created).toEqual(['a/r0/c0', 'c/r0/c0', 'c/r0/c1', 'a/r0/c1', 'a/r0/c2', 'b/r0/c0', 'b/r0/c1']);
  expect((await createdBatches(api)).every((b) => b.status === 'completed')).toBe(true);
});

test('a batch the provider still refuses with token_limit_exceeded is re-created after a backoff, and the budget learns', async () => {
  const model = 'gpt-4o-mini-refused';
  // The budget believes in two parts; the provider (another client shares the quota) allows one. The provider
  // refuses the second part only while the first still runs (real time): 2 s a part, not the 0.14 s of the fast
  // emulator, which asked both creates to land within 90 ms and on busy cores they did not.
  const { activities, api } = await setup(model, 2, 1, { requestSeconds: 0.5 });
  const { outcome, lowered, view, histories } = await withWorker(env, activities, async (tq) => {
    const handle = await start(tq, 'refused', model, 2);
    // Right after the refusal (time skipping is locked while the test only queries), the budget has learned.
    await until('a refusal', async () =>
      (await handle.query(submitStatusQuery)).tokenBudget?.tokenLimitRetries ? true : undefined,
    );
    const lowered = await until('the budget told', async () => {
      const v = await budgetView(model);
      return v.limitHits > 0 ? v : undefined;
    });
    const result = await handle.result();
    const budget = env.client.workflow.getHandle(budgetWorkflowId('emu', model));
    return {
      outcome: result,
      lowered,
      view: await budgetView(model),
      histories: [await handle.fetchHistory(), await budget.fetchHistory()],
    };
  });
  // The submission's and the budget's histories (update-with-start, grants, releases, the lowered limit's timer,
  // the backoff) replay deterministically.
  for (const h of histories) await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, h);
  expect(outcome.status).toBe('completed');
  const refused = outcome.batches.filter((b) => b.retried === 'token_limit_exceeded');
  expect(refused.length).toBeGreaterThanOrEqual(1);
  for (const b of refused) {
    expect(b.outcome?.status).toBe('failed');
    expect(b.outcome?.billing.billed).toBe(0);
    expect(b.outcome?.errors[0]?.code).toBe('token_limit_exceeded');
  }
  // Every part has exactly one batch that ran; the refused ones were created again under a new tag.
  const ran = outcome.batches.filter((b) => !b.retried);
  expect(ran.map((b) => b.chunkIndex).sort()).toEqual([0, 1]);
  expect(ran.every((b) => b.outcome?.status === 'completed')).toBe(true);
  const created = await createdBatches(api);
  expect(created.filter((b) => b.status === 'failed')).toHaveLength(refused.length);
  expect(created.some((b) => /\/t1$/.test(b.tag))).toBe(true);
  expect(view.limitHits).toBe(refused.length);
  // Lowered, for a while (30 min), to 80% of what it held when refused (one or both parts, depending on whether
  // the first part's end was released first), never below the refused part.
  expect(lowered.effectiveLimit).toBeLessThan(2 * PART_TOKENS);
  expect(lowered.effectiveLimit).toBeGreaterThanOrEqual(PART_TOKENS);
  expect(lowered.loweredUntil).not.toBeNull();
  expect(view).toMatchObject({ held: 0, waiting: [] });
});

test('release on fail: a part whose batch the provider fails frees the budget for the next one', async () => {
  const model = 'gpt-4o-mini-fail';
  // The provider refuses files of more than 3 requests (too_many_tasks): every batch fails at validation.
  const { activities, api } = await setup(model, 1, 10, { maxLines: 3 });
  const { outcome, view } = await withWorker(env, activities, async (tq) => ({
    outcome: await (await start(tq, 'fail', model, 3)).result(),
    view: await budgetView(model),
  }));
  expect(outcome.status).toBe('failed');
  const created = await createdBatches(api);
  expect(created.map((b) => b.tag)).toEqual([0, 1, 2].map((i) => `submit-fail/r0/c${i}`));
  expect(created.every((b) => b.errors?.data?.[0]?.code === 'too_many_tasks')).toBe(true);
  expect(view).toMatchObject({ held: 0, waiting: [] });
});

test('release on cancel: the running part is released and the waiting ones withdrawn, never created', async () => {
  const model = 'gpt-4o-mini-cancel';
  // Slow requests: the first part is still running when the cancel comes.
  const { activities, api } = await setup(model, 1, 1, { requestSeconds: 2 });
  const outcome = await withWorker(env, activities, async (tq) => {
    const handle = await start(tq, 'cancel', model, 3);
    await until('two parts waiting', async () =>
      (await handle.query(submitStatusQuery)).tokenBudget?.waiting.length === 2 ? true : undefined,
    );
    await handle.signal(cancelSignal, { reason: 'test' });
    return { result: await handle.result(), view: await budgetView(model) };
  });
  expect(outcome.result.status).toBe('cancelled');
  const created = await createdBatches(api);
  expect(created).toHaveLength(1);
  expect(created[0].status).toBe('cancelled');
  expect(outcome.view).toMatchObject({ held: 0, holders: [], waiting: [] });
});

test('release on expiry: an expired part frees the budget for the next, created only after it expired', async () => {
  const model = 'gpt-4o-mini-expiry';
  const { activities, api } = await setup(model, 1, 1, { clock: 'manual', requestSeconds: 30_000 });
  const manual = emu as EmulatorHandle;
  const outcome = await withWorker(env, activities, async (tq) => {
    const handle = await start(tq, 'expiry', model, 2);
    await until('the first part created and the second waiting', async () => {
      const v = await handle.query(submitStatusQuery);
      return v.batches.length === 1 && v.tokenBudget?.waiting.length === 1 ? true : undefined;
    });
    // 4 requests of 30,000 s each never fit a 24 h window: every batch expires.
    await manual.advance(25 * 3600);
    await until('the second part created', async () =>
      (await handle.query(submitStatusQuery)).batches.length === 2 ? true : undefined,
    );
    // The second one runs to its end (expiry too).
    const done = handle.result();
    for (let i = 0; i < 200 && (await settled(handle)) === false; i++) await manual.advance(3600);
    return { ...(await done), view: await budgetView(model) };
  });
  expect(outcome.batches.map((b) => b.outcome?.status)).toEqual(['expired', 'expired']);
  expect((await createdBatches(api)).map((b) => b.status)).toEqual(['expired', 'expired']);
  expect(outcome.view).toMatchObject({ held: 0, waiting: [] });
});

async function settled(handle: WorkflowHandle): Promise<boolean> {
  await new Promise((r) => setTimeout(r, 30));
  const d = await handle.describe();
  return d.status.name !== 'RUNNING';
}

test('a worker killed while its submission holds budget: the next worker finishes, nothing is left held', async () => {
  const model = 'gpt-4o-mini-killed';
  const { activities, api } = await setup(model, 1, 1, { requestSeconds: 0.5 });
  const taskQueue = uniqueTaskQueue('budget-killed');
  const worker = { maxCachedWorkflows: 0 };
  await withWorker(
    env,
    activities,
    async (tq) => {
      const handle = await start(tq, 'killed', model, 2);
      await until('one part held, one waiting', async () =>
        (await handle.query(submitStatusQuery)).tokenBudget?.waiting.length === 1 ? true : undefined,
      );
    },
    { taskQueue, worker },
  );
  // No worker now. Another one takes over the same task queue.
  const { outcome, view } = await withWorker(
    env,
    activities,
    async () => ({
      outcome: await env.client.workflow.getHandle<typeof submitBatch>(submitWorkflowId('killed')).result(),
      view: await budgetView(model),
    }),
    { taskQueue, worker },
  );
  expect(outcome.status).toBe('completed');
  const created = await createdBatches(api);
  expect(created.map((b) => b.status)).toEqual(['completed', 'completed']);
  expect(view).toMatchObject({ held: 0, waiting: [] });
});

test('a submission terminated while holding budget: the budget finds it gone and admits the next', async () => {
  const model = 'gpt-4o-mini-gone';
  // The provider allows both (the terminated submission's batch keeps running there); the budget one part.
  const { activities, api } = await setup(model, 1, 2, { requestSeconds: 1 });
  const { outcome, view } = await withWorker(env, activities, async (tq) => {
    const gone = await start(tq, 'gone', model, 1);
    const [child] = await until('its batch created', async () => {
      const ids = (await gone.query(submitStatusQuery)).batches.map((b) => b.workflowId);
      return ids.length > 0 ? ids : undefined;
    });
    // The test server leaks a time-skipping lock when a child outlives its terminated parent (see the helper).
    const watcher = watchOrphanedChildLocks(env, () => [child]);
    const next = await start(tq, 'after-gone', model, 1);
    await until('the next one waiting', async () =>
      (await next.query(submitStatusQuery)).tokenBudget?.waiting.length ? true : undefined,
    );
    await gone.terminate('by hand');
    // Within the ping period (10 min of workflow time, skipped) the hold goes and the next part runs.
    try {
      return { outcome: await next.result(), view: await budgetView(model) };
    } finally {
      await watcher.stop();
    }
  });
  expect(outcome.status).toBe('completed');
  expect((await createdBatches(api)).map((b) => b.tag)).toEqual([
    'submit-gone/r0/c0',
    'submit-after-gone/r0/c0',
  ]);
  expect(view).toMatchObject({ held: 0, holders: [], waiting: [] });
});

test('a part larger than the whole budget fails validation with the numbers, before any upload', async () => {
  const model = 'gpt-4o-mini-toolarge';
  const { activities } = await setup(model, 1, 1);
  const calls = () => (emu as EmulatorHandle).calls().filter((c) => c.route === 'files.create');
  // Parts of 8 lines against a budget of 4 lines' tokens.
  const err = await withWorker(env, activities, async (tq) => {
    const handle = await env.client.workflow.start(submitBatch, {
      taskQueue: tq,
      workflowId: submitWorkflowId('toolarge'),
      args: [
        {
          provider: 'emu',
          submission: {
            source: { path: partsFile('toolarge', model, 2) },
            endpoint: '/v1/chat/completions',
            limits: { maxLines: 2 * LINES_PER_PART },
          },
        },
      ],
    });
    return handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
  });
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const message = String((err as WorkflowFailedError).cause?.message);
  expect(message).toContain('part_exceeds_token_budget');
  expect(message).toContain(`~${2 * PART_TOKENS} input tokens`);
  expect(message).toContain(`is ${PART_TOKENS}`);
  expect(calls()).toHaveLength(0);
});

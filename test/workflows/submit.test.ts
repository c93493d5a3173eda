// Submissions end to end on the time-skipping server: real activities, the emulator over HTTP, real files.
import OpenAI from 'openai';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActivities } from '../../activities';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { submitBatch, type batchLifecycle } from '../../workflows';
import { cancelSignal, submitStatusQuery, submitWorkflowId } from '../../workflows/contract';
import { FAST_EMULATOR, emulatorActivities } from '../helpers/emulator-activities';
import { createTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';
import { workflowBundle } from '../helpers/workflow-bundle';

const KEY = 'sk-submit-test';
let env: TestWorkflowEnvironment;
let emu: EmulatorHandle;
let dir: string;
let activities: ReturnType<typeof createActivities>;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  emu = await startEmulator({ ...FAST_EMULATOR, apiKey: KEY, cancellingSeconds: 0.1 });
  dir = mkdtempSync(join(tmpdir(), 'bk-submit-'));
  activities = emulatorActivities(emu, dir);
});
afterAll(async () => {
  await emu?.close();
  await env?.teardown();
});
beforeEach(() => {
  emu.setFaults({});
  emu.clearCalls();
});

const api = () => new OpenAI({ apiKey: KEY, baseURL: emu.url, maxRetries: 0 });
const fast = { initialIntervalSeconds: 1, maxIntervalSeconds: 2 };

function jsonl(name: string, lines: (object | string)[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}
const line = (i: number) => ({
  custom_id: `q-${i}`,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] },
});
const bare = (i: number) => ({ messages: [{ role: 'user', content: `bare question ${i}` }] });

/** A submission of `lines` requests in batches of 1,000, slow enough to be cancelled while they run. */
function startSlowSubmission(taskQueue: string, name: string, lines: number) {
  const path = jsonl(
    `${name}.jsonl`,
    Array.from({ length: lines }, (_, i) => line(i)),
  );
  return env.client.workflow.start(submitBatch, {
    taskQueue,
    workflowId: submitWorkflowId(name),
    args: [
      {
        provider: 'emu',
        submission: { source: { path }, endpoint: '/v1/chat/completions', limits: { maxLines: 1000 } },
        pollPolicy: fast,
      },
    ],
  });
}

/** Waits (bounded) until the submission has `n` batches, all in progress; returns their workflow ids. */
async function waitForRunningBatches(handle: WorkflowHandle, n: number): Promise<string[]> {
  for (let i = 0; i < 500; i++) {
    const v = await handle.query(submitStatusQuery);
    if (v.batches.length === n && v.batches.every((b) => b.status === 'in_progress')) {
      return v.batches.map((b) => b.workflowId);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the submission never had ${n} batches in progress`);
}

async function batchesTagged(prefix: string): Promise<OpenAI.Batches.Batch[]> {
  const out: OpenAI.Batches.Batch[] = [];
  for await (const b of api().batches.list({ limit: 100 })) {
    if ((b.metadata as Record<string, string> | null)?.batchkeeper_workflow_id?.startsWith(prefix))
      out.push(b);
  }
  return out;
}

test('submit -> complete -> results on disk, bare bodies wrapped, provider files cleaned up', async () => {
  const path = jsonl('ok.jsonl', [line(1), line(2), bare(3), bare(4), line(5)]);
  const { outcome, histories } = await withWorker(env, activities, async (taskQueue) => {
    const handle = await env.client.workflow.start(submitBatch, {
      taskQueue,
      workflowId: submitWorkflowId('ok'),
      args: [
        {
          provider: 'emu',
          submission: { source: { path }, endpoint: '/v1/chat/completions', defaultModel: 'gpt-4o-mini' },
          pollPolicy: fast,
        },
      ],
    });
    const result = await handle.result();
    const child = env.client.workflow.getHandle(result.batches[0].workflowId);
    return { outcome: result, histories: [await handle.fetchHistory(), await child.fetchHistory()] };
  });
  // Parent and child histories (child workflow, signals between them, file activities) replay deterministically.
  for (const h of histories) await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, h);
  expect(outcome.status).toBe('completed');
  expect(outcome.billing).toMatchObject({ total: 5, completed: 5, billed: 5, failed: 0, notRun: 0 });
  expect(outcome.billing.tokens?.totalTokens).toBeGreaterThan(0);
  expect(outcome.batches).toHaveLength(1);
  const [batch] = outcome.batches;
  expect(batch.workflowId).toBe(`batch-${batch.batchId}`);
  const results = batch.outcome?.results;
  expect(results?.summary).toMatchObject({ succeeded: 5, failed: 0, notRun: 0 });
  const output = readFileSync(join(results?.dir ?? '', 'output.jsonl'), 'utf8')
    .trim()
    .split('\n');
  expect(output.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id).sort()).toEqual([
    'line-3',
    'line-4',
    'q-1',
    'q-2',
    'q-5',
  ]);
  expect(existsSync(join(results?.dir ?? '', 'manifest.json'))).toBe(true);
  // Input and output deleted at the provider, after the results verified.
  const deletes = emu.calls().filter((c) => c.method === 'DELETE');
  expect(deletes).toHaveLength(2);
  expect(results?.remoteFilesDeleted).toHaveLength(2);
});

test('a bad file fails before any upload, with every problem by line number', async () => {
  const path = jsonl('bad.jsonl', [line(1), '{not json', line(1), { ...line(4), url: '/v1/embeddings' }]);
  const err = await withWorker(env, activities, (taskQueue) =>
    env.client.workflow
      .execute(submitBatch, {
        taskQueue,
        workflowId: submitWorkflowId('bad'),
        args: [{ provider: 'emu', submission: { source: { path }, endpoint: '/v1/chat/completions' } }],
      })
      .catch((e: unknown) => e),
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('InvalidSubmission');
  expect(cause.message).toMatch(/line 2/);
  expect(cause.message).toMatch(/line 3/);
  expect(cause.message).toMatch(/line 4/);
  expect(emu.calls().filter((c) => c.method === 'POST')).toHaveLength(0);
});

test('over the limits: split into batches with aggregated totals; a cancel reaches every batch', async () => {
  const lines = Array.from({ length: 25 }, (_, i) => line(i));
  const path = jsonl('split.jsonl', lines);
  const split = await withWorker(env, activities, (taskQueue) =>
    env.client.workflow.execute(submitBatch, {
      taskQueue,
      workflowId: submitWorkflowId('split'),
      args: [
        {
          provider: 'emu',
          submission: { source: { path }, endpoint: '/v1/chat/completions', limits: { maxLines: 10 } },
          pollPolicy: fast,
        },
      ],
    }),
  );
  expect(split.batches.map((b) => b.requestCounts.total).sort()).toEqual([10, 10, 5]);
  expect(split.billing).toMatchObject({ total: 25, billed: 25, notRun: 0 });

  // The same again, slowed down, and cancelled once the batches run.
  const cancelled = await withWorker(env, activities, async (taskQueue) => {
    const handle = await startSlowSubmission(taskQueue, 'cancel-all', 3000);
    await waitForRunningBatches(handle, 3);
    await handle.signal(cancelSignal, { reason: 'stop all', requestedBy: 'jest' });
    return handle.result();
  });
  expect(cancelled.status).toBe('cancelled');
  expect(cancelled.batches).toHaveLength(3);
  expect(cancelled.batches.every((b) => b.outcome?.status === 'cancelled')).toBe(true);
  expect(cancelled.batches.every((b) => b.outcome?.cancel?.reason === 'stop all')).toBe(true);
  expect(emu.calls().filter((c) => c.path.endsWith('/cancel'))).toHaveLength(3);
  expect(cancelled.billing.billed).toBe(
    cancelled.batches.reduce((n, b) => n + (b.outcome?.billing.billed ?? 0), 0),
  );
  expect(cancelled.billing.billed).toBeLessThan(3000);
});

test('cancelling the submission workflow itself cancels every batch at the provider', async () => {
  const children = await withWorker(env, activities, async (taskQueue) => {
    const handle = await startSlowSubmission(taskQueue, 'wf-cancel', 2000);
    const ids = await waitForRunningBatches(handle, 2);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    // Before it closed, each batch was cancelled at the provider and its workflow ended with the billing.
    const view = await handle.query(submitStatusQuery);
    expect(view.cancel).toMatchObject({ source: 'workflow-cancellation' });
    for (const b of view.batches) {
      expect(b.outcome?.status).toBe('cancelled');
      expect(b.outcome?.billing.billed).toBe(b.outcome?.snapshot.requestCounts.completed);
      expect((await env.client.workflow.getHandle(b.workflowId).describe()).status.name).toBe('COMPLETED');
    }
    return ids;
  });
  expect(emu.calls().filter((c) => c.path.endsWith('/cancel'))).toHaveLength(children.length);
  for (const id of children) {
    const b = await api().batches.retrieve(id.replace(/^batch-/, ''));
    expect(b.status).toBe('cancelled');
  }
});

test('a create that reached the provider but never returned is adopted on retry: one batch', async () => {
  const path = jsonl('crash.jsonl', [line(1), line(2)]);
  emu.setFaults({ dropConnection: { nextN: 1, afterHandler: true, only: 'batches.create' } });
  const outcome = await withWorker(env, activities, (taskQueue) =>
    env.client.workflow.execute(submitBatch, {
      taskQueue,
      workflowId: submitWorkflowId('crash'),
      args: [
        {
          provider: 'emu',
          submission: { source: { path }, endpoint: '/v1/chat/completions' },
          pollPolicy: fast,
        },
      ],
    }),
  );
  expect(outcome.status).toBe('completed');
  expect(outcome.batches[0].adopted).toBe(true);
  expect(emu.calls().filter((c) => c.method === 'POST' && c.route === 'batches.create')).toHaveLength(1);
  expect(await batchesTagged(submitWorkflowId('crash'))).toHaveLength(1);
});

test('a name reused after a terminated run, with corrected content of the same size: a new batch runs it; the earlier batch stays with its own workflow', async () => {
  const original = Array.from({ length: 300 }, (_, i) => line(i));
  const corrected = original.map((l, i) =>
    i === 7 ? { ...l, body: { ...l.body, messages: [{ role: 'user', content: 'question X' }] } } : l,
  );
  const first = jsonl('reused-a.jsonl', original);
  const second = jsonl('reused-b.jsonl', corrected);
  expect(readFileSync(second).length).toBe(readFileSync(first).length);
  const start = (taskQueue: string, path: string) =>
    env.client.workflow.start(submitBatch, {
      taskQueue,
      workflowId: submitWorkflowId('reused'),
      // As the CLI starts submissions: a name is reused only after a run that did not complete.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      args: [
        {
          provider: 'emu',
          submission: { source: { path }, endpoint: '/v1/chat/completions' },
          pollPolicy: fast,
        },
      ],
    });
  const { oldBatchId, oldOutcome, outcome } = await withWorker(env, activities, async (taskQueue) => {
    const run1 = await start(taskQueue, first);
    const [oldChild] = await waitForRunningBatches(run1, 1);
    await run1.terminate('wrong file');
    const run2 = await start(taskQueue, second);
    return {
      oldBatchId: oldChild.replace(/^batch-/, ''),
      outcome: await run2.result(),
      // The earlier batch is followed to its end and billed by its own workflow, whatever run 2 does.
      oldOutcome: await env.client.workflow.getHandle<typeof batchLifecycle>(oldChild).result(),
    };
  });
  expect(outcome.status).toBe('completed');
  expect(outcome.batches).toHaveLength(1);
  const [batch] = outcome.batches;
  expect(batch.adopted).toBe(false);
  expect(batch.batchId).not.toBe(oldBatchId);
  expect(outcome.billing).toMatchObject({ total: 300, billed: 300 });
  // The corrected request ran, not the earlier one.
  const output = readFileSync(join(batch.outcome?.results?.dir ?? '', 'output.jsonl'), 'utf8');
  const q7 = output
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { custom_id: string; response: { body: unknown } })
    .find((l) => l.custom_id === 'q-7');
  expect(JSON.stringify(q7?.response.body)).toContain('question X');
  expect(oldOutcome.batchId).toBe(oldBatchId);
  expect(oldOutcome.billing.total).toBe(300);
});

test('resubmission of failed lines: a second round with only those, totals kept apart', async () => {
  const failing = await startEmulator({ ...FAST_EMULATOR, apiKey: KEY, failureRate: 0.3 });
  try {
    const acts = emulatorActivities(failing, join(dir, 'resubmit'));
    const path = jsonl(
      'resubmit.jsonl',
      Array.from({ length: 40 }, (_, i) => line(i)),
    );
    const outcome = await withWorker(env, acts, (taskQueue) =>
      env.client.workflow.execute(submitBatch, {
        taskQueue,
        workflowId: submitWorkflowId('resubmit'),
        args: [
          {
            provider: 'emu',
            submission: { source: { path }, endpoint: '/v1/chat/completions' },
            pollPolicy: fast,
            resubmit: { rounds: 1 },
          },
        ],
      }),
    );
    const [first, second] = outcome.rounds;
    expect(first.billing.total).toBe(40);
    expect(first.billing.failed).toBeGreaterThan(0);
    // Round 1 ran exactly the lines that failed in round 0, and is billed on its own.
    expect(second.round).toBe(1);
    expect(second.billing.total).toBe(first.billing.failed);
    expect(outcome.billing).toEqual(first.billing);
    const r1 = outcome.batches.filter((b) => b.round === 1);
    expect(r1).toHaveLength(1);
  } finally {
    await failing.close();
  }
});

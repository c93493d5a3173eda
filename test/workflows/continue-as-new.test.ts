import type { WorkflowHandle } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId, statusQuery } from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());

const HOUR = 3600;

/** Every run of a continue-as-new chain, first to last, with its history length. */
async function runChain(handle: WorkflowHandle, firstRunId: string): Promise<number[]> {
  const lengths: number[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: History = await env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    lengths.push(events.length);
    const last = events[events.length - 1];
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return lengths;
}

test('a 336 h DashScope batch continues as new with its state intact and every run far from history limits', async () => {
  const fake = newFake({
    id: 'batch_336h',
    total: 50_000,
    profile: 'dashscope',
    windowSeconds: 336 * HOUR,
    runSeconds: 330 * HOUR,
  });
  const { outcome, lengths, mid } = await withWorker(env, fake.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId('batch_336h'),
      args: [{ batchId: 'batch_336h', provider: 'fake' }],
    });
    const startedAt = (await handle.query(statusQuery)).startedAt;
    await env.sleep('200 hours');
    const midView = await handle.query(statusQuery);
    // The carried state: same start, counters that span runs, the schedule still aimed.
    expect(midView.run).toBeGreaterThan(1);
    expect(midView.startedAt).toBe(startedAt);
    expect(midView.polls).toBe(fake.count('retrieve'));
    expect(midView.snapshot?.status).toBe('in_progress');
    const result = await handle.result();
    return { outcome: result, lengths: await runChain(handle, handle.firstExecutionRunId), mid: midView };
  });

  expect(outcome.status).toBe('completed');
  expect(outcome.billing).toMatchObject({
    total: 50_000,
    completed: 50_000,
    billed: 50_000,
    notRun: 0,
  });
  // DashScope reports no usage on the batch: the tokens are summed from the downloaded output lines.
  expect(outcome.billing.tokens).toMatchObject({ inputTokens: 50_000 * 50, totalTokens: 50_000 * 70 });
  expect(outcome.results?.summary).toMatchObject({ succeeded: 50_000, failed: 0, notRun: 0 });
  expect(outcome.runs).toBe(lengths.length);
  expect(outcome.runs).toBeGreaterThan(mid.run - 1);
  expect(outcome.providerCalls).toBe(fake.calls.length);
  for (const n of lengths) expect(n).toBeLessThan(10_000);
  // While nothing changes the wait sits at its 15 min cap: about 4 calls an hour, plus the ramps.
  expect(fake.count('retrieve')).toBeLessThanOrEqual((336 * 3600) / 900 + 40);
  expect(lengths.length).toBeGreaterThanOrEqual(3);
});

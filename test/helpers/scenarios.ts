// Recorded scenarios: run on the time-skipping server, their histories kept as replay fixtures.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { History } from '@temporalio/common/lib/proto-utils';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId, cancelSignal } from '../../workflows/messages';
import { FakeProvider } from './fake-provider';
import { withWorker } from './worker';

const HOUR = 3600;

export interface RecordedScenario {
  name: string;
  workflowId: string;
  history: History;
}

export async function recordScenarios(
  env: TestWorkflowEnvironment,
  suffix = '',
): Promise<RecordedScenario[]> {
  const clock = () => env.currentTimeMs();
  const out: RecordedScenario[] = [];

  const completed = new FakeProvider(
    { id: `batch_rec_done${suffix}`, total: 300, runSeconds: 6 * HOUR, failRatio: 0.1 },
    clock,
  );
  await withWorker(env, completed.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(completed.plan.id),
      args: [{ batchId: completed.plan.id, provider: 'fake' }],
    });
    await handle.result();
    out.push({ name: 'completed', workflowId: handle.workflowId, history: await handle.fetchHistory() });
  });

  const cancelled = new FakeProvider(
    { id: `batch_rec_cancel${suffix}`, total: 300, runSeconds: 6 * HOUR },
    clock,
  );
  await withWorker(env, cancelled.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(cancelled.plan.id),
      args: [{ batchId: cancelled.plan.id, provider: 'fake' }],
    });
    await env.sleep('2 hours');
    await handle.signal(cancelSignal, { reason: 'recorded', requestedBy: 'fixtures' });
    await handle.signal(cancelSignal, { reason: 'duplicate' });
    await handle.result();
    out.push({
      name: 'signal-cancelled',
      workflowId: handle.workflowId,
      history: await handle.fetchHistory(),
    });
  });

  const wfCancelled = new FakeProvider(
    { id: `batch_rec_wfc${suffix}`, total: 300, runSeconds: 6 * HOUR },
    clock,
  );
  await withWorker(env, wfCancelled.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId(wfCancelled.plan.id),
      args: [{ batchId: wfCancelled.plan.id, provider: 'fake' }],
    });
    await env.sleep('1 hour');
    await handle.cancel();
    await handle.result().catch(() => undefined);
    out.push({
      name: 'workflow-cancelled',
      workflowId: handle.workflowId,
      history: await handle.fetchHistory(),
    });
  });
  return out;
}

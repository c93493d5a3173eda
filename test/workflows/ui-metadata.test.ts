// What the Temporal Web UI shows: search attributes, current details, handler descriptions, summaries.
import { batchLifecycle } from '../../workflows';
import {
  BatchCancelRequestedKey,
  BatchProviderKey,
  BatchRequestsCompletedKey,
  BatchRequestsTotalKey,
  BatchStatusKey,
  batchWorkflowId,
  cancelSignal,
} from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());
const HOUR = 3600;

interface WorkflowMetadata {
  currentDetails?: string;
  definition?: {
    signalDefinitions?: { name: string; description?: string }[];
    queryDefinitions?: { name: string; description?: string }[];
  };
}

test('search attributes, current details and handler descriptions follow the batch', async () => {
  const fake = newFake({ id: 'batch_ui', total: 1000, runSeconds: 10 * HOUR, cancellingSeconds: 60 });
  await withWorker(env, fake.activities(), async (taskQueue) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue,
      workflowId: batchWorkflowId('batch_ui'),
      args: [{ batchId: 'batch_ui', provider: 'fake' }],
    });
    await env.sleep('4 hours');
    const mid = await handle.describe();
    expect(mid.typedSearchAttributes.get(BatchStatusKey)).toBe('in_progress');
    expect(mid.typedSearchAttributes.get(BatchProviderKey)).toBe('fake');
    expect(mid.typedSearchAttributes.get(BatchRequestsTotalKey)).toBe(1000);
    expect(mid.typedSearchAttributes.get(BatchRequestsCompletedKey)).toBeGreaterThan(300);
    expect(mid.typedSearchAttributes.get(BatchCancelRequestedKey)).toBe(false);

    const meta = await handle.query<WorkflowMetadata>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toMatch(/\*\*in_progress: \d+ of 1000 done \(\d+%\)\*\*/);
    expect(meta.currentDetails).toMatch(/Next poll in \d+m/);
    expect(meta.currentDetails).not.toMatch(/sk-/);
    const cancelDef = meta.definition?.signalDefinitions?.find((d) => d.name === 'cancel');
    expect(cancelDef?.description).toMatch(/Cancel the batch at the provider/);
    const statusDef = meta.definition?.queryDefinitions?.find((d) => d.name === 'status');
    expect(statusDef?.description).toMatch(/snapshot/);

    await handle.signal(cancelSignal, { reason: 'ui test', requestedBy: 'jest' });
    await handle.result();
    const end = await handle.describe();
    expect(end.typedSearchAttributes.get(BatchStatusKey)).toBe('cancelled');
    expect(end.typedSearchAttributes.get(BatchCancelRequestedKey)).toBe(true);
    const finalMeta = await handle.query<WorkflowMetadata>('__temporal_workflow_metadata');
    expect(finalMeta.currentDetails).toMatch(/Billing: \*\*\d+ billed\*\*/);
    expect(finalMeta.currentDetails).toMatch(
      /Cancel requested .* by jest — "ui test"; provider: cancel-requested/,
    );

    // Activity and timer summaries are in the history, where the UI's timeline shows them.
    const history = await handle.fetchHistory();
    const summaries = (history.events ?? [])
      .map((e) => e.userMetadata?.summary?.data)
      .filter((d): d is Uint8Array => d instanceof Uint8Array)
      .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as string);
    expect(summaries).toContain('retrieve batch_ui');
    expect(summaries).toContain('cancel batch_ui');
    expect(summaries.some((s) => /^next poll in \d+/.test(s))).toBe(true);
  });
});

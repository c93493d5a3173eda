// Trust with paid jobs, in the batch workflow: tracking that survives a lost key, bad provider answers that are
// recorded with a flag instead of looping, and remote clean-up only of what batchkeeper created.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Batch } from 'openai/resources/batches';
import { openSqliteLedger } from '../../src/ledger';
import { ledgerSink } from '../../src/worker/ledger-sink';
import { batchLifecycle } from '../../workflows';
import { batchWorkflowId, statusQuery } from '../../workflows/contract';
import { FakeProvider, type BatchPlan } from '../helpers/fake-provider';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { uniqueTaskQueue, withWorker } from '../helpers/worker';

const env = useTimeSkippingEnv();
const newFake = (plan: BatchPlan) => new FakeProvider(plan, () => env.currentTimeMs());
const HOUR = 3600;

describe('a batch that was seen is never dropped for a lost key or profile', () => {
  test('wrong key, then a missing one, then the right key: tracking pauses, shows it, resumes; one ledger row', async () => {
    const fake = newFake({ id: 'batch_rotate', total: 100, runSeconds: 6 * HOUR });
    const ledger = openSqliteLedger(join(mkdtempSync(join(tmpdir(), 'bk-trust-')), 'ledger.sqlite'));
    const outcomes = ledgerSink(ledger);
    const workflowId = batchWorkflowId(fake.plan.id);
    const start = Math.floor((await env.currentTimeMs()) / 1000);

    // Each deploy is a worker on the run's task queue with another environment (the key lives only there).
    const taskQueue = uniqueTaskQueue('rotate');
    const deploy = (key: string | null | undefined) =>
      fake.activities('fake', 'FAKE_PROVIDER_KEY', { key, outcomes });

    // Deploy 1: the right key. The batch is seen.
    const handle = await withWorkerOn(taskQueue, deploy(undefined), async () => {
      const h = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId,
        args: [{ batchId: fake.plan.id, provider: 'fake' }],
      });
      await env.sleep('1 hour');
      expect((await h.query(statusQuery)).snapshot?.status).toBe('in_progress');
      return h;
    });
    const seenCalls = fake.calls.length;

    // Deploy 2: a rotated (revoked) key. Calls are refused; the workflow keeps running and says so.
    await withWorkerOn(taskQueue, deploy('sk-revoked'), async () => {
      await env.sleep('3 hours');
      const paused = await handle.query(statusQuery);
      expect(paused.phase).toBe('tracking');
      expect(paused.accessLost?.type).toBe('ProviderAuthFailed');
      expect(paused.accessLost?.message).toMatch(/Check the key in FAKE_PROVIDER_KEY/);
      expect(paused.accessLost?.message).not.toMatch(/sk-revoked/);
      expect(Date.parse(paused.accessLost?.since ?? '') / 1000).toBeGreaterThanOrEqual(start);
      // A long retry interval, not a hot loop: about one refused call per 10 minutes.
      const refused = fake.calls.slice(seenCalls).filter((c) => c.status === 401);
      expect(refused.length).toBeGreaterThanOrEqual(10);
      expect(refused.length).toBeLessThanOrEqual(25);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      expect(meta.currentDetails).toMatch(/\*\*provider key rejected since \d{4}-\d\d-\d\dT/);
    });

    // Deploy 3: the key's env var missing altogether: still paused, now for the missing key.
    await withWorkerOn(taskQueue, deploy(null), async () => {
      await env.sleep('30 minutes');
      const paused = await handle.query(statusQuery);
      expect(paused.accessLost?.type).toBe('ProviderApiKeyMissing');
    });

    // Deploy 4: the right key again. Tracking resumes and the batch finishes with one ledger row.
    await withWorkerOn(taskQueue, deploy(undefined), async () => {
      const outcome = await handle.result();
      expect(outcome.status).toBe('completed');
      expect(outcome.billing.billed).toBe(100);
      const after = await handle.query(statusQuery);
      expect(after.accessLost).toBeNull();
    });
    const rows = await ledger.list();
    expect(rows.map((r) => [r.batchId, r.billed])).toEqual([['batch_rotate', 100]]);
    await ledger.close();
  });

  test('a 404 or an unknown profile before the first look still fails fast (a wrong id at track time)', async () => {
    const fake = newFake({ id: 'batch_exists', total: 1, runSeconds: 60 });
    const err = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow
        .execute(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId('..'),
          args: [{ batchId: '..', provider: 'fake' }],
        })
        .catch((e: unknown) => e as Error),
    );
    expect(String((err as Error & { cause?: { cause?: Error } }).cause?.cause?.message)).toMatch(
      /Invalid batch id "\.\.": it is a relative path segment/,
    );
    // Refused before any provider call: the SDK would have thrown on it, and that used to retry forever.
    expect(fake.calls).toHaveLength(0);
  });
});

describe('bad provider answers are recorded with a flag, never looped on', () => {
  test('inconsistent and unknown answers finish the batch with discrepancies in billing and status', async () => {
    const fake = newFake({ id: 'batch_odd', total: 50, runSeconds: HOUR });
    fake.rewrite = (b: Batch) => {
      const raw = b as unknown as Record<string, unknown>;
      if (raw.status === 'in_progress') return { ...raw, status: 'running_fast' } as unknown as Batch;
      if (raw.status === 'completed')
        return { ...raw, request_counts: { total: 50, completed: 48, failed: 'two' } } as unknown as Batch;
      return b;
    };
    const outcome = await withWorker(env, fake.activities(), async (taskQueue) => {
      const handle = await env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(fake.plan.id),
        args: [{ batchId: fake.plan.id, provider: 'fake' }],
      });
      await env.sleep('20 minutes');
      const mid = await handle.query(statusQuery);
      expect(mid.snapshot?.status).toBe('in_progress');
      expect(mid.snapshot?.anomalies?.[0]).toMatch(/unknown status "running_fast"/);
      return handle.result();
    });
    expect(outcome.status).toBe('completed');
    expect(outcome.billing.billed).toBe(48);
    expect(outcome.billing.discrepancies).toEqual([
      'request_counts.failed is not a count: "two"',
      // The downloaded lines say 50 succeeded (the fake wrote them before the rewrite): the mismatch is recorded.
      'results: 50 succeeded line(s), but the provider counts 48 completed',
    ]);
    expect(fake.recorded[0].outcome.billing.discrepancies).toHaveLength(2);
  });

  test('billing agrees with the downloaded results: no discrepancies on a well-behaved provider', async () => {
    const fake = newFake({ id: 'batch_clean', total: 40, runSeconds: HOUR, failRatio: 0.25 });
    const outcome = await withWorker(env, fake.activities(), (taskQueue) =>
      env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(fake.plan.id),
        args: [{ batchId: fake.plan.id, provider: 'fake' }],
      }),
    );
    expect(outcome.results?.summary).toMatchObject({ succeeded: 30, failed: 10 });
    expect(outcome.billing.discrepancies).toBeUndefined();
  });
});

describe('remote clean-up only of what batchkeeper created', () => {
  test('a tracked batch keeps its files by default and deletes them only when asked', async () => {
    const kept = newFake({ id: 'batch_kept', total: 10, runSeconds: 600 });
    const keptOutcome = await withWorker(env, kept.activities(), (taskQueue) =>
      env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(kept.plan.id),
        args: [{ batchId: kept.plan.id, provider: 'fake' }],
      }),
    );
    expect(kept.deletedFiles).toEqual([]);
    expect(keptOutcome.results?.remoteCleanup).toEqual({
      deleted: [],
      reason: expect.stringMatching(/^kept: a tracked batch .*cleanupRemote: true/),
    });

    const asked = newFake({ id: 'batch_asked', total: 10, runSeconds: 600 });
    const askedOutcome = await withWorker(env, asked.activities(), (taskQueue) =>
      env.client.workflow.execute(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(asked.plan.id),
        args: [{ batchId: asked.plan.id, provider: 'fake', results: { cleanupRemote: true } }],
      }),
    );
    expect(asked.deletedFiles.sort()).toEqual(['file-input', 'file-out']);
    expect(askedOutcome.results?.remoteCleanup?.reason).toMatch(/on request/);
  });

  test('a submitted batch deletes its results, and its input only when batchkeeper uploaded it', async () => {
    const run = async (id: string, inputUploaded: boolean | undefined) => {
      const fake = newFake({ id, total: 10, runSeconds: 600, failRatio: 0.2 });
      const outcome = await withWorker(env, fake.activities(), (taskQueue) =>
        env.client.workflow.execute(batchLifecycle, {
          taskQueue,
          workflowId: batchWorkflowId(id),
          args: [
            {
              batchId: id,
              provider: 'fake',
              parent: { workflowId: `submit-${id}`, chunkIndex: 0, round: 0, inputPath: null, inputUploaded },
            },
          ],
        }),
      );
      return { fake, outcome };
    };
    const ours = await run('batch_ours', true);
    expect(ours.fake.deletedFiles.sort()).toEqual(['file-err', 'file-input', 'file-out']);
    expect(ours.outcome.results?.remoteCleanup?.reason).toMatch(/the input file it uploaded deleted/);
    // A submission from a file the user had uploaded (or a child of an older version: unknown): input kept.
    const theirs = await run('batch_theirs', undefined);
    expect(theirs.fake.deletedFiles.sort()).toEqual(['file-err', 'file-out']);
    expect(theirs.outcome.results?.remoteCleanup?.reason).toMatch(/input kept/);
  });
});

/** A worker on the run's task queue, as a new deploy with other settings would be (no sticky cache left behind). */
function withWorkerOn<T>(
  taskQueue: string,
  activities: ReturnType<FakeProvider['activities']>,
  fn: () => Promise<T>,
): Promise<T> {
  return withWorker(env, activities, fn, { taskQueue, worker: { maxCachedWorkflows: 0 } });
}

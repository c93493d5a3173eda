// Fleet polling on the time-skipping server: batch workflows register with their profile's poller, which lists the
// provider's batches (100 a call) and signals what changed; the batches' own retrieves become a safety net and the
// confirmation of a terminal status. Provider calls are counted by the scripted provider.
import { batchLifecycle } from '../../workflows';
import {
  batchWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  statusQuery,
  type BatchOutcome,
} from '../../workflows/contract';
import { FakeFleet, type FleetPlan } from '../helpers/fake-fleet';
import { useTimeSkippingEnv } from '../helpers/temporal-env';
import { withWorker } from '../helpers/worker';

// A server per test: a test's poller may still sweep (an activity in flight) when its worker stops, and the Java
// test server then holds time still for the next test.
const env = useTimeSkippingEnv({ perTest: true });
jest.setTimeout(300_000);
const HOUR = 3600;

function startAll(taskQueue: string, ids: string[]) {
  return Promise.all(
    ids.map((batchId) =>
      env.client.workflow.start(batchLifecycle, {
        taskQueue,
        workflowId: batchWorkflowId(batchId),
        args: [{ batchId, provider: 'fake', results: { download: false } }],
      }),
    ),
  );
}

/**
 * One `result()` at a time: each unlocks the test server's time skipping while it waits and locks it again after,
 * and concurrent ones unbalance that count (the Java test server then stops skipping time).
 */
async function resultsInTurn(handles: { result(): Promise<BatchOutcome> }[]): Promise<BatchOutcome[]> {
  const outcomes: BatchOutcome[] = [];
  for (const handle of handles) outcomes.push(await handle.result());
  return outcomes;
}

describe('fleet polling', () => {
  test('12 batches on pages of 5: one poller walks the pages, each batch retrieves about twice, all are billed', async () => {
    const fleet = new FakeFleet('fl', [], () => env.currentTimeMs(), { fleetPolling: true });
    // A provider with pages of 5: three list calls cover the 12 batches, as 100 a page covers 300.
    fleet.pageSize = 5;
    const plans: FleetPlan[] = Array.from({ length: 12 }, (_, i) => ({
      total: 100,
      runSeconds: HOUR + (i % 10) * 1800,
      validatingSeconds: 60,
      finalizingSeconds: 120,
    }));
    const ids = plans.map((p) => fleet.add(p));
    const { outcomes, poller } = await withWorker(env, fleet.activities(), async (taskQueue) => {
      const handles = await startAll(taskQueue, ids);
      await env.sleep('2 hours');
      const mid = await handles[0].query(statusQuery);
      const outcomes = await resultsInTurn(handles);
      const fleetHandle = env.client.workflow.getHandle(fleetWorkflowId(taskQueue, 'fake'));
      const poller = await fleetHandle.query(fleetStatusQuery);
      expect(mid.fleet?.registered).toBe(true);
      expect(mid.fleet?.snapshots).toBeGreaterThan(0);
      // Nothing in flight: the poller makes no call at all, however long it waits.
      const listsAtEnd = fleet.listCalls;
      await env.sleep('6 hours');
      expect(fleet.listCalls).toBe(listsAtEnd);
      return { outcomes, poller };
    });

    expect(outcomes.every((o) => o.status === 'completed' && o.billing.billed === 100)).toBe(true);
    expect(poller.registered).toBe(0);
    // Per-batch polling costs ~20 retrieves for a 1-5.5 h batch; here the first look, the confirmation, rarely more.
    const perBatch = fleet.retrieves() / ids.length;
    expect(perBatch).toBeLessThanOrEqual(3);
    // A sweep reads at most 3 pages, and sweeps come at most every 20 s while batches are in flight.
    expect(poller.listCalls).toBe(fleet.listCalls);
    expect(poller.sweeps).toBeGreaterThan(0);
    expect(fleet.listCalls).toBeLessThanOrEqual(poller.sweeps * 3);
    expect(poller.sweeps).toBeLessThan((6.5 * HOUR) / 20);
    // The terminal status was seen soon after it happened: by a sweep (at most 120 s apart) and one retrieve.
    for (const id of ids) {
      const fake = fleet.fakes.get(id);
      const outcome = outcomes.find((o) => o.batchId === id) as BatchOutcome;
      const completedAt = outcome.snapshot.timestamps.completedAt as number;
      const confirm = fake?.calls.filter((c) => c.op === 'retrieve').at(-1);
      expect((confirm?.at ?? Infinity) - completedAt).toBeLessThanOrEqual(150);
    }
  });

  test('a batch the provider does not list falls back to its own polling and is still finished in time', async () => {
    const fleet = new FakeFleet('hid', [], () => env.currentTimeMs(), { fleetPolling: true });
    const listed = fleet.add({ total: 50, runSeconds: 3 * HOUR });
    const hidden = fleet.add({ total: 50, runSeconds: 3 * HOUR });
    fleet.unlisted.add(hidden);
    const outcomes = await withWorker(env, fleet.activities(), async (taskQueue) => {
      const handles = await startAll(taskQueue, [listed, hidden]);
      return resultsInTurn(handles);
    });
    expect(outcomes.map((o) => o.status)).toEqual(['completed', 'completed']);
    const retrieves = (id: string) => fleet.fakes.get(id)?.count('retrieve') ?? 0;
    expect(retrieves(listed)).toBeLessThanOrEqual(3);
    // Its own schedule: more retrieves, and the finish found within the adaptive policy's reach (15 min cap).
    expect(retrieves(hidden)).toBeGreaterThan(5);
    const hiddenOutcome = outcomes[1];
    const last = fleet.fakes.get(hidden)?.calls.at(-1);
    expect((last?.at ?? Infinity) - (hiddenOutcome.snapshot.timestamps.completedAt as number)).toBeLessThan(
      15 * 60,
    );
  });

  test('fleet polling off for the profile: the batch polls on its own and the status says so', async () => {
    const fleet = new FakeFleet('off', [], () => env.currentTimeMs(), { fleetPolling: false });
    const id = fleet.add({ total: 20, runSeconds: HOUR });
    const outcome = await withWorker(env, fleet.activities(), async (taskQueue) => {
      const [handle] = await startAll(taskQueue, [id]);
      await env.sleep('30 minutes');
      expect((await handle.query(statusQuery)).fleet).toEqual({
        registered: false,
        snapshots: 0,
        lastSnapshotAt: null,
      });
      return handle.result();
    });
    expect(outcome.status).toBe('completed');
    expect(fleet.listCalls).toBe(0);
    expect(fleet.retrieves()).toBeGreaterThan(5);
  });
});

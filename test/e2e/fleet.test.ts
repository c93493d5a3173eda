// Fleet polling end to end: the dev server, `batchkeeper worker` as a child process, the emulator over HTTP. The
// same 20 batches are tracked twice, by a worker whose profile has fleet polling off (each batch retrieves itself)
// and by one with it on (the profile's poller lists them, 100 a call); provider calls come from the emulator's log.
import {
  batchWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  type BatchOutcome,
} from '../../workflows/contract';
import { createBatch, stopAll } from './harness';
import { E2E_TIMEOUT_MS, useE2EWorld, type World } from './world';

const e2e = useE2EWorld();

const BATCHES = 20;
/** A fast schedule for the batches' own polling, so per-batch polling is visibly busy over a ~25 s batch. */
const POLL_POLICY = { initialIntervalSeconds: 1, maxIntervalSeconds: 2, minIntervalSeconds: 1 };

interface Run {
  outcomes: BatchOutcome[];
  retrieves: number;
  lists: number;
  /** Seconds from each batch's completed_at to its workflow's last retrieve (the confirmation). */
  lateness: number[];
}

async function trackAll(w: World): Promise<Run> {
  const ids: string[] = [];
  for (let i = 0; i < BATCHES; i++) ids.push((await createBatch(w.openai, 40, `fleet-${i}`)).batchId);
  for (const batchId of ids) await w.bk.track(batchId, { provider: 'emulator', pollPolicy: POLL_POLICY });
  const outcomes = await Promise.all(
    ids.map((id) =>
      e2e.temporal.env.client.workflow.getHandle<() => Promise<BatchOutcome>>(batchWorkflowId(id)).result(),
    ),
  );
  const calls = w.emulator.calls();
  const lateness = outcomes.map((o) => {
    const retrieves = calls.filter((c) => c.route === 'batches.retrieve' && c.path.includes(o.batchId));
    const last = retrieves[retrieves.length - 1];
    return Math.max(0, last.clockAt - (o.snapshot.timestamps.completedAt ?? 0));
  });
  return {
    outcomes,
    retrieves: calls.filter((c) => c.route === 'batches.retrieve').length,
    lists: calls.filter((c) => c.route === 'batches.list').length,
    lateness,
  };
}

test(
  'a fleet-tracked batch retrieves about twice (first look, confirmation); the poller lists them all at once',
  async () => {
    const emulator = { requestSeconds: 0.6, validatingSeconds: 1, finalizingSeconds: 1 };
    const first = await e2e.start({ emulator, profile: { fleetPolling: false } });
    const perBatch = await trackAll(first);
    // The second world's worker runs alone, as the first one did.
    await stopAll();
    await first.close();

    const world = await e2e.start({
      emulator,
      profile: { fleetPolling: { minIntervalSeconds: 1, maxIntervalSeconds: 3, progressEverySeconds: 10 } },
    });
    const fleet = await trackAll(world);
    const poller = await e2e.temporal.env.client.workflow
      .getHandle(fleetWorkflowId(world.taskQueue, 'emulator'))
      .query(fleetStatusQuery);

    for (const run of [perBatch, fleet]) {
      expect(run.outcomes.map((o) => o.status)).toEqual(Array(BATCHES).fill('completed'));
      expect(run.outcomes.every((o) => o.billing.billed === 40)).toBe(true);
    }
    expect(perBatch.lists).toBe(0);
    // Own polling: a dozen retrieves a batch at this schedule. Fleet: the first look, the confirmation, rarely a third.
    expect(perBatch.retrieves).toBeGreaterThan(BATCHES * 6);
    expect(fleet.retrieves).toBeLessThanOrEqual(BATCHES * 3);
    // One page holds all 20 batches: at most a list call a sweep (none when no batch is due for a look), and far
    // fewer calls in all than per-batch polling.
    expect(poller.listCalls).toBe(fleet.lists);
    expect(poller.listCalls).toBeGreaterThan(0);
    expect(poller.listCalls).toBeLessThanOrEqual(poller.sweeps);
    expect(fleet.retrieves + fleet.lists).toBeLessThan(perBatch.retrieves / 2);
    expect(poller.registered).toBe(0);
    // Seen within a sweep or two of finishing (sweeps at most 3 s apart here; the worker adds its own latency).
    expect(Math.max(...fleet.lateness)).toBeLessThan(15);
  },
  E2E_TIMEOUT_MS * 2,
);

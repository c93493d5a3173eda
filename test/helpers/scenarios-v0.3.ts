// The roads added in v0.3.0, recorded next to the earlier ones (scenarios.ts): fleet polling (a registered batch,
// the poller, the poller across continue-as-new), provider webhooks (a pushed batch) and token budgets (a wait
// and its grant, a `token_limit_exceeded` retry, the budget across continue-as-new with parts held and waiting).
import { WithStartWorkflowOperation, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestTokens } from '../../activities/tokens/estimate';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../src/emulator';
import { batchLifecycle, submitBatch, tokenBudget } from '../../workflows';
import { PUSHED_MAX_INTERVAL_SECONDS } from '../../workflows/batch/poll-schedule';
import type { BudgetCarried } from '../../workflows/budget/carried-state';
import {
  acquireUpdate,
  batchWorkflowId,
  budgetStatusQuery,
  budgetWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  providerEventSignal,
  releaseSignal,
  statusQuery,
  submitStatusQuery,
  submitWorkflowId,
  type FleetObservation,
  type FleetStatusView,
  type ProviderEvent,
} from '../../workflows/contract';
import type { FleetCarriedState } from '../../workflows/fleet/carried-state';
import { FAST_EMULATOR, emulatorActivities } from './emulator-activities';
import { FakeFleet } from './fake-fleet';
import { FakeProvider } from './fake-provider';
import type { RecordedScenario } from './scenarios';
import { withWorker } from './worker';

const HOUR = 3600;

export async function recordV03Scenarios(
  env: TestWorkflowEnvironment,
  suffix: string,
): Promise<RecordedScenario[]> {
  const clock = () => env.currentTimeMs();
  const out: RecordedScenario[] = [];
  const history = async (name: string, handle: WorkflowHandle, runId?: string): Promise<History> => {
    const h = runId ? env.client.workflow.getHandle(handle.workflowId, runId) : handle;
    const recorded = await h.fetchHistory();
    out.push({ name, workflowId: handle.workflowId, history: recorded });
    return recorded;
  };
  const nowSeconds = async () => Math.floor((await clock()) / 1000);

  // Webhooks on the profile: the snapshot says `pushed`, polls thin out, and the provider's event (delivered
  // twice, as webhooks are at least once) ends the wait; a retrieve confirms.
  const pushed = new FakeProvider(
    { id: `batch_rec_pushed${suffix}`, total: 200, runSeconds: 5 * HOUR },
    clock,
  );
  await withWorker(env, pushed.activities('fake', 'FAKE_PROVIDER_KEY', { pushed: true }), async (tq) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue: tq,
      workflowId: batchWorkflowId(pushed.plan.id),
      args: [{ batchId: pushed.plan.id, provider: 'fake' }],
    });
    // Validating 60 s, running 5 h, finalizing 120 s: completed at the provider, not yet seen by a poll.
    await env.sleep(`${60 + 5 * HOUR + 120 + 1} seconds`);
    const event: ProviderEvent = {
      webhookId: `wh_rec${suffix}`,
      type: 'batch.completed',
      createdAt: (await nowSeconds()) - 1,
      batchId: pushed.plan.id,
      provider: 'fake',
    };
    await handle.signal(providerEventSignal, event);
    await handle.signal(providerEventSignal, event);
    const outcome = await handle.result();
    const view = await handle.query(statusQuery);
    if (
      outcome.status !== 'completed' ||
      view.pollPolicy.maxIntervalSeconds !== PUSHED_MAX_INTERVAL_SECONDS ||
      view.events?.received !== 1 ||
      view.events.duplicates !== 1 ||
      view.events.late !== 0
    ) {
      throw new Error('the pushed scenario was meant to poll as pushed and end on the event, and did not');
    }
    await history('pushed-batch', handle);
  });

  const dir = mkdtempSync(join(tmpdir(), 'bk-rec-budget-'));
  const budget = budgetRig(env, dir);

  // Four parts, room for two: two are admitted by the acquire's answer, two wait and are granted by signal.
  // Requests of a second: the first two are still running when the others ask, however busy the machine.
  const waitModel = `gpt-4o-mini-rec-wait${suffix}`;
  await budget.withEmulator(waitModel, 2, 2, { requestSeconds: 1 }, async (tq) => {
    const handle = await budget.start(tq, `rec-budget-wait${suffix}`, waitModel, 4);
    const outcome = await handle.result();
    const budgetHandle = env.client.workflow.getHandle(budgetWorkflowId('emu', waitModel));
    // Idle, the budget closes after an hour (skipped): its history is then whole.
    await budgetHandle.result();
    const submission = await history('budget-wait-and-grant-submission', handle);
    const budgetHistory = await history('budget-wait-and-grant-budget', budgetHandle);
    if (
      outcome.status !== 'completed' ||
      outcome.batches.length !== 4 ||
      signalsTo(submission, 'budgetGranted') < 2 ||
      signalsFrom(budgetHistory, 'budgetGranted') < 2
    ) {
      throw new Error('the budget scenario was meant to make parts wait and grant them, and did not');
    }
  });

  // The budget believes in two parts, the provider (another client shares the quota) takes one: a batch is
  // refused with token_limit_exceeded, created again after a backoff, and the budget lowers its limit. Requests
  // of a second: the first part still runs when the second is created.
  const refusedModel = `gpt-4o-mini-rec-refused${suffix}`;
  await budget.withEmulator(refusedModel, 2, 1, { requestSeconds: 1 }, async (tq) => {
    const handle = await budget.start(tq, `rec-budget-refused${suffix}`, refusedModel, 2);
    const outcome = await handle.result();
    const budgetHandle = env.client.workflow.getHandle(budgetWorkflowId('emu', refusedModel));
    const view = await budgetHandle.query(budgetStatusQuery);
    await budgetHandle.result();
    const refused = outcome.batches.filter((b) => b.retried === 'token_limit_exceeded');
    if (outcome.status !== 'completed' || refused.length === 0 || view.limitHits === 0) {
      throw new Error('the budget scenario was meant to retry a token_limit_exceeded batch, and did not');
    }
    await history('token-limit-retry-submission', handle);
    await history('token-limit-retry-budget', budgetHandle);
  });

  // Room for one part: a submission's first part is held (its batch validating on a stopped clock), its other two
  // wait. Meanwhile parts of submissions on other workers queue behind them and are withdrawn (as a cancelled
  // submission withdraws its waiting parts), sent as the budget activities send them, until the budget's run is
  // long enough to continue as new, carrying the hold and the waiting parts. Then the batches run and the
  // next run grants, releases and, idle, closes.
  const carriedModel = `gpt-4o-mini-rec-carried${suffix}`;
  await budget.withEmulator(carriedModel, 1, 3, { clock: 'manual' }, async (tq, emu) => {
    const handle = await budget.start(tq, `rec-budget-carried${suffix}`, carriedModel, 3);
    await until('one part held, two waiting', async () => {
      const v = await handle.query(submitStatusQuery);
      return v.batches.length === 1 && v.tokenBudget?.waiting.length === 2 ? true : undefined;
    });
    const budgetId = budgetWorkflowId('emu', carriedModel);
    const budgetHandle = env.client.workflow.getHandle(budgetId);
    const firstRunId = (await budgetHandle.describe()).runId;
    const { limit, maxBatches } = await budgetHandle.query(budgetStatusQuery);
    const tokens = budget.partTokens;
    const other = submitWorkflowId(`rec-budget-other${suffix}`);
    for (let i = 0; ; i++) {
      if (i % 10 === 0 && (await budgetHandle.describe()).runId !== firstRunId) break;
      if (i >= 600) throw new Error('the budget never continued as new');
      const holderId = `${other}/r0/c${i}`;
      await env.client.workflow.executeUpdateWithStart(acquireUpdate, {
        args: [
          {
            holderId,
            owner: other,
            tokens,
            priority: 0,
            submittedAt: await clock(),
            order: i,
            limit,
            maxBatches,
          },
        ],
        updateId: holderId,
        startWorkflowOperation: new WithStartWorkflowOperation(tokenBudget, {
          workflowId: budgetId,
          taskQueue: tq,
          args: [{ provider: 'emu', model: carriedModel }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
      await env.client.workflow.signalWithStart(tokenBudget, {
        workflowId: budgetId,
        taskQueue: tq,
        args: [{ provider: 'emu', model: carriedModel }],
        signal: releaseSignal,
        signalArgs: [{ holderId, reason: 'submission cancelled before its batch was created' }],
      });
    }
    const done = handle.result();
    for (let i = 0; !(await closed(handle)); i++) {
      if (i >= 200) throw new Error('the held submission never finished');
      await emu.advance(600);
    }
    const outcome = await done;
    await budgetHandle.result();
    const first = await history('budget-continued-run1', budgetHandle, firstRunId);
    const carried = continuedWith<{ carried: BudgetCarried }>(first)?.carried;
    const next = await history('budget-continued-run2', budgetHandle, (await budgetHandle.describe()).runId);
    const mine = (ids: string[]) => ids.filter((id) => id.startsWith(handle.workflowId)).length;
    if (
      outcome.status !== 'completed' ||
      previousRun(next) !== firstRunId ||
      !carried ||
      mine(carried.holders.map((h) => h.holderId)) !== 1 ||
      mine(carried.waiters.map((w) => w.holderId)) !== 2 ||
      signalsFrom(next, 'budgetGranted') < 2
    ) {
      throw new Error(
        'the budget scenario was meant to continue as new with a part held and two waiting, and did not',
      );
    }
  });

  // Fleet polling on: the batch registers with its profile's poller, takes its snapshots instead of polling,
  // and confirms the terminal status the fleet reports with one retrieve.
  const fleet = new FakeFleet(`rec_fleet${suffix}`, [], clock, { fleetPolling: true });
  const fleetBatch = fleet.add({ total: 100, runSeconds: 2 * HOUR, failRatio: 0.1 });
  await withWorker(env, fleet.activities(), async (tq) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue: tq,
      workflowId: batchWorkflowId(fleetBatch),
      args: [{ batchId: fleetBatch, provider: 'fake', results: { download: false } }],
    });
    const outcome = await handle.result();
    const poller = env.client.workflow.getHandle(fleetWorkflowId(tq, 'fake'));
    const status = await pollerIdle(env, poller);
    const batch = await history('fleet-batch', handle);
    const pollerHistory = await history('fleet-poller', poller);
    const events = batch.events ?? [];
    const told = events
      .map((e) => e.workflowExecutionSignaledEventAttributes)
      .filter((s) => s?.signalName === 'fleetSnapshot');
    const last = told[told.length - 1]?.input?.payloads?.[0];
    const lastTold = last ? defaultPayloadConverter.fromPayload<FleetObservation>(last) : undefined;
    const lastSignal = lastIndex(
      events,
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'fleetSnapshot',
    );
    const lastRetrieve = lastIndex(events, (e) => scheduled(e) === 'retrieveBatch');
    if (
      outcome.status !== 'completed' ||
      status.sweeps === 0 ||
      status.run !== 1 ||
      scheduledCount(batch, 'registerWithFleet') === 0 ||
      told.length < 2 ||
      lastTold?.snapshot.status !== 'completed' ||
      lastRetrieve < lastSignal ||
      scheduledCount(pollerHistory, 'sweepFleet') === 0
    ) {
      throw new Error(
        'the fleet scenario was meant to track a batch by fleet snapshots and confirm its end, and did not',
      );
    }
    // Nothing in flight, nothing pending: it would only wait for registrations.
    await poller.terminate('recorded');
  });

  // A batch long enough for the poller's history to reach its continue-as-new length (~11 events a sweep, a
  // sweep at most every 120 s): the run that continued as new with the batch registered, and the next.
  const longFleet = new FakeFleet(`rec_fleet_can${suffix}`, [], clock, { fleetPolling: true });
  const longBatch = longFleet.add({ total: 1000, runSeconds: 8 * HOUR });
  await withWorker(env, longFleet.activities(), async (tq) => {
    const handle = await env.client.workflow.start(batchLifecycle, {
      taskQueue: tq,
      workflowId: batchWorkflowId(longBatch),
      args: [{ batchId: longBatch, provider: 'fake', results: { download: false } }],
    });
    const outcome = await handle.result();
    const poller = env.client.workflow.getHandle(fleetWorkflowId(tq, 'fake'));
    const status = await pollerIdle(env, poller);
    const lastRunId = (await poller.describe()).runId;
    const firstRunId = previousRun(
      await env.client.workflow.getHandle(poller.workflowId, lastRunId).fetchHistory(),
    );
    if (!firstRunId) throw new Error('the fleet poller was meant to continue as new, and did not');
    const first = await history('fleet-poller-continued-run1', poller, firstRunId);
    const carried = continuedWith<{ carried: FleetCarriedState }>(first)?.carried;
    await history('fleet-poller-continued-run2', poller, lastRunId);
    if (
      outcome.status !== 'completed' ||
      status.run !== 2 ||
      !carried?.entries.some((e) => e.batchId === longBatch)
    ) {
      throw new Error(
        'the fleet scenario was meant to continue the poller as new with the batch registered, and did not',
      );
    }
    await poller.terminate('recorded');
  });
  return out;
}

/**
 * Submissions of same-sized parts on the emulator (which enforces its own enqueued-token limit per model, as
 * OpenAI does), with the `emu` profile's token budget, as in test/workflows/token-budget.test.ts.
 */
function budgetRig(env: TestWorkflowEnvironment, dir: string) {
  const linesPerPart = 4;
  const body = (model: string) => ({ model, messages: [{ role: 'user', content: 'Name a prime number.' }] });
  const partTokens = linesPerPart * requestTokens('tiktoken:o200k_base', '/v1/chat/completions', body('m'));
  return {
    partTokens,
    async withEmulator(
      model: string,
      budgetParts: number,
      providerParts: number,
      opts: EmulatorOptions,
      fn: (taskQueue: string, emu: EmulatorHandle) => Promise<void>,
    ): Promise<void> {
      const emu = await startEmulator({
        ...FAST_EMULATOR,
        cancellingSeconds: 0.1,
        enqueuedTokenLimit: { [model]: providerParts * partTokens },
        ...opts,
      });
      try {
        const activities = emulatorActivities(emu, dir, {
          tokenBudgets: { [model]: { enqueuedTokens: budgetParts * partTokens } },
          workflowClient: env.client.workflow,
        });
        await withWorker(env, activities, (tq) => fn(tq, emu));
      } finally {
        await emu.close();
      }
    },
    start(taskQueue: string, name: string, model: string, parts: number) {
      const path = join(dir, `${name}.jsonl`);
      const lines = Array.from({ length: parts * linesPerPart }, (_, i) =>
        JSON.stringify({
          custom_id: `${name}-${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: body(model),
        }),
      );
      writeFileSync(path, lines.join('\n') + '\n');
      return env.client.workflow.start(submitBatch, {
        taskQueue,
        workflowId: submitWorkflowId(name),
        args: [
          {
            provider: 'emu',
            submission: {
              source: { path },
              endpoint: '/v1/chat/completions',
              limits: { maxLines: linesPerPart },
            },
            pollPolicy: { initialIntervalSeconds: 1, maxIntervalSeconds: 2 },
          },
        ],
      });
    },
  };
}

type HistoryEvent = NonNullable<History['events']>[number];

function scheduled(e: HistoryEvent): string | null | undefined {
  return e.activityTaskScheduledEventAttributes?.activityType?.name;
}

function scheduledCount(h: History, activity: string): number {
  return (h.events ?? []).filter((e) => scheduled(e) === activity).length;
}

function signalsTo(h: History, signal: string): number {
  return (h.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === signal)
    .length;
}

function signalsFrom(h: History, signal: string): number {
  return (h.events ?? []).filter(
    (e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === signal,
  ).length;
}

function lastIndex(events: HistoryEvent[], test: (e: HistoryEvent) => boolean): number {
  for (let i = events.length - 1; i >= 0; i--) if (test(events[i])) return i;
  return -1;
}

/** The input a run that continued as new gave the next run; undefined when it did not continue as new. */
function continuedWith<T>(h: History): T | undefined {
  const last = h.events?.[h.events.length - 1];
  const payload = last?.workflowExecutionContinuedAsNewEventAttributes?.input?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<T>(payload) : undefined;
}

/** The run this one continued from, as its first event names it. */
function previousRun(h: History): string | undefined {
  return h.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
}

/**
 * Once no batch is registered and no sweep is due, the poller does nothing until the next registration. A batch
 * that unregistered itself leaves the poller's wait running out (up to its longest interval): time is skipped.
 */
async function pollerIdle(env: TestWorkflowEnvironment, poller: WorkflowHandle): Promise<FleetStatusView> {
  for (let i = 0; i < 30; i++) {
    const s = await poller.query(fleetStatusQuery);
    if (s.registered === 0 && s.nextSweepInSeconds === null) return s;
    await env.sleep('1 minute');
  }
  throw new Error('never: the fleet poller idle');
}

async function closed(handle: WorkflowHandle): Promise<boolean> {
  await new Promise((r) => setTimeout(r, 30));
  return (await handle.describe()).status.name !== 'RUNNING';
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never: ${what}`);
}

// The fleet poller of one provider profile (workflow id `batchkeeper-fleet-<profile>`): it holds the batches in
// flight on that profile and, at an adaptive interval, runs one `sweepFleet` activity that lists the provider's
// pages covering them and signals each batch workflow what changed. Its history grows with sweeps, never with
// batches (the set is read by the activity through a query, and only what was signalled comes back), and it
// continues as new long before that matters.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from './activity-types';
import {
  DEFAULT_FLEET_POLICY,
  fleetEntriesQuery,
  fleetRegisterSignal,
  fleetStatusQuery,
  fleetUnregisterSignal,
  providerTaskQueue,
  type FleetActivities,
  type FleetEntry,
  type FleetPolicy,
  type FleetPollerInput,
  type FleetRegistration,
  type FleetStatusView,
  type SweepResult,
} from './fleet-types';
import { BATCH_STATUSES, batchWorkflowId, isTerminal, type BatchStatus } from './messages';

/** ~11 events a sweep: a run holds some 180 sweeps (an hour or more) before it starts over with its set. */
const CONTINUE_AS_NEW_AFTER_EVENTS = 2000;
/**
 * Registered batches at most. The set travels through continue-as-new as one payload (~110 bytes a batch, under
 * Temporal's 2 MB limit with room to spare); a batch refused here simply polls on its own.
 */
export const MAX_FLEET_ENTRIES = 12_000;
/** Statuses that last seconds to minutes: a batch in one of them is worth an early sweep. */
const SHORT_PHASES: readonly BatchStatus[] = ['validating', 'finalizing', 'cancelling'];

export async function fleetPoller(input: FleetPollerInput): Promise<void> {
  if (!input || typeof input.provider !== 'string' || input.provider === '') {
    throw ApplicationFailure.nonRetryable(
      'Invalid input: provider must name a provider profile',
      'InvalidInput',
    );
  }
  const provider = input.provider;
  const policy = resolveFleetPolicy(input.policy);
  const carried = input.carried;
  const entries = new Map<string, FleetEntry>((carried?.entries ?? []).map((e) => [e.batchId, e]));
  const counters = {
    runs: (carried?.runs ?? 0) + 1,
    sweeps: carried?.sweeps ?? 0,
    listCalls: carried?.listCalls ?? 0,
    signals: carried?.signals ?? 0,
  };
  let lastSweep: SweepResult | null = null;
  let sweepFailures = 0;
  let nextSweepAt: number | null = null;
  /** A batch registered in a short phase while the poller slept long: sweep sooner. */
  let hurry = false;

  const sweepOptions: ActivityOptions = {
    // Under the profile's rate budget, like every provider call (docs/scale.md).
    taskQueue: providerTaskQueue(workflowInfo().taskQueue, provider),
    // Up to maxPagesPerSweep list calls paced to the budget; heartbeats show a dead worker within a minute.
    startToCloseTimeout: '15 minutes',
    heartbeatTimeout: '1 minute',
    retry: {
      initialInterval: '5 seconds',
      backoffCoefficient: 2,
      maximumInterval: '2 minutes',
      // A sweep that keeps failing gives way to the next one (and the batches' own polling) instead of retrying.
      maximumAttempts: 5,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  };
  const { sweepFleet } = proxyActivities<FleetActivities>(sweepOptions);

  const publish = () => {
    setCurrentDetails(
      `**${entries.size}** batches registered on \`${provider}\` · run ${counters.runs} · ` +
        `${counters.sweeps} sweeps, ${counters.listCalls} list calls, ${counters.signals} signals` +
        (lastSweep
          ? ` · last sweep: ${lastSweep.pages} pages, ${lastSweep.found} found, ${lastSweep.missing} missing`
          : '') +
        (sweepFailures > 0 ? ` · ${sweepFailures} failed sweeps` : ''),
    );
  };

  setHandler(
    fleetRegisterSignal,
    (registrations) => {
      for (const registration of Array.isArray(registrations) ? registrations : [registrations]) {
        const entry = toEntry(registration);
        if (!entry) continue;
        const known = entries.get(entry.batchId);
        if (known) {
          // A batch workflow that continued as new or was restarted registers again: keep what it was told.
          known.createdAt ??= entry.createdAt;
          continue;
        }
        if (entries.size >= MAX_FLEET_ENTRIES) break;
        entries.set(entry.batchId, entry);
        if (SHORT_PHASES.includes(entry.status)) hurry = true;
      }
      publish();
    },
    {
      description:
        'Batch workflows ask to be tracked by this poller (sent by registerWithFleet activities, coalesced per ' +
        'worker, with signal-with-start). Payload [{batchId, workflowId?, createdAt, status, done}]; repeats ' +
        'change nothing.',
    },
  );
  setHandler(
    fleetUnregisterSignal,
    (message) => {
      if (message && typeof message.batchId === 'string' && entries.delete(message.batchId)) publish();
    },
    { description: 'A registered batch finished on its own: it is no longer swept for. Payload {batchId}.' },
  );
  setHandler(fleetEntriesQuery, () => [...entries.values()], {
    description: 'The registered batches, read by each sweep (a query costs no history).',
  });
  setHandler(
    fleetStatusQuery,
    (): FleetStatusView => {
      const byStatus: Partial<Record<BatchStatus, number>> = {};
      for (const e of entries.values()) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
      return {
        provider,
        registered: entries.size,
        byStatus,
        run: counters.runs,
        sweeps: counters.sweeps,
        listCalls: counters.listCalls,
        signals: counters.signals,
        lastSweep,
        nextSweepInSeconds: nextSweepAt === null ? null : Math.max(0, nextSweepAt - nowSeconds()),
      };
    },
    { description: 'Registered batches by status, sweeps and calls so far, the last sweep, the next one.' },
  );

  const apply = (result: SweepResult) => {
    lastSweep = result;
    counters.sweeps += 1;
    counters.listCalls += result.pages;
    counters.signals += result.signalled.length;
    for (const [batchId, status, done] of result.signalled) {
      const entry = entries.get(batchId);
      if (!entry) continue;
      // Told its terminal status, the batch workflow confirms it with one retrieve and finishes on its own.
      if (isTerminal(status)) entries.delete(batchId);
      else Object.assign(entry, { status, done, signalledAt: result.at });
    }
    for (const batchId of result.gone) entries.delete(batchId);
  };

  publish();
  for (;;) {
    if (entries.size === 0) {
      // Nothing in flight: no provider call at all until a batch registers.
      nextSweepAt = null;
      hurry = false;
      await condition(() => entries.size > 0 || continueAsNewDue());
    }
    if (continueAsNewDue()) {
      // Registrations being handled go into the carried set.
      await condition(allHandlersFinished);
      await continueAsNew<typeof fleetPoller>({
        provider,
        ...(input.policy ? { policy: input.policy } : {}),
        carried: { entries: [...entries.values()], ...counters },
      });
    }
    if (entries.size === 0) continue;
    hurry = false;
    try {
      apply(
        await sweepFleet.executeWithOptions({ ...sweepOptions, summary: `sweep ${entries.size} batches` }, [
          {
            provider,
            fleetWorkflowId: workflowInfo().workflowId,
            progressEverySeconds: policy.progressEverySeconds,
            maxPages: policy.maxPagesPerSweep,
            at: nowSeconds(),
            minIntervalSeconds: policy.minIntervalSeconds,
            fullSweepEverySeconds: policy.fullSweepEverySeconds,
          },
        ]),
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A provider that refuses the list (no list, wrong key): the batches poll on their own once the fleet is
      // silent; the poller tries again at its longest interval.
      sweepFailures += 1;
      lastSweep = null;
    }
    publish();
    const wait = sweepInterval(lastSweep, policy);
    let deadline = nowSeconds() + wait;
    nextSweepAt = deadline;
    while (entries.size > 0 && nowSeconds() < deadline && !continueAsNewDue()) {
      await condition(() => hurry || continueAsNewDue(), (deadline - nowSeconds()) * 1000);
      if (hurry) {
        hurry = false;
        deadline = Math.min(deadline, nowSeconds() + policy.minIntervalSeconds);
        nextSweepAt = deadline;
      }
    }
  }
}

/** Seconds to the next sweep: soon when a batch is about to change, else growing to the policy's maximum. */
export function sweepInterval(last: SweepResult | null, policy: FleetPolicy): number {
  const next = last?.nextChangeSeconds ?? null;
  const wanted = next === null ? policy.maxIntervalSeconds : next;
  return Math.round(Math.min(policy.maxIntervalSeconds, Math.max(policy.minIntervalSeconds, wanted)));
}

export function resolveFleetPolicy(overrides: Partial<FleetPolicy> | undefined): FleetPolicy {
  const policy: FleetPolicy = { ...DEFAULT_FLEET_POLICY };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_FLEET_POLICY) || typeof value !== 'number' || !(value > 0)) {
      throw ApplicationFailure.nonRetryable(
        `Invalid fleet policy: ${key} must be a positive number`,
        'InvalidInput',
      );
    }
    policy[key as keyof FleetPolicy] = value;
  }
  // A short heartbeat given alone pulls the full walk's default down with it, instead of being an error.
  if (overrides?.fullSweepEverySeconds === undefined) {
    policy.fullSweepEverySeconds = Math.min(policy.fullSweepEverySeconds, policy.progressEverySeconds);
  }
  if (policy.fullSweepEverySeconds > policy.progressEverySeconds) {
    throw ApplicationFailure.nonRetryable(
      'Invalid fleet policy: fullSweepEverySeconds must not exceed progressEverySeconds',
      'InvalidInput',
    );
  }
  if (policy.minIntervalSeconds > policy.maxIntervalSeconds) {
    throw ApplicationFailure.nonRetryable(
      'Invalid fleet policy: minIntervalSeconds must not exceed maxIntervalSeconds',
      'InvalidInput',
    );
  }
  return policy;
}

function toEntry(r: FleetRegistration): FleetEntry | null {
  if (!r || typeof r.batchId !== 'string' || r.batchId === '') return null;
  if (!(BATCH_STATUSES as readonly string[]).includes(r.status) || isTerminal(r.status)) return null;
  const entry: FleetEntry = {
    batchId: r.batchId,
    createdAt: typeof r.createdAt === 'number' && r.createdAt > 0 ? r.createdAt : null,
    status: r.status,
    done: typeof r.done === 'number' && r.done >= 0 ? r.done : 0,
    // Never told yet: the first sweep that finds it says so, and the batch workflow knows the fleet sees it.
    signalledAt: 0,
  };
  if (
    typeof r.workflowId === 'string' &&
    r.workflowId !== '' &&
    r.workflowId !== batchWorkflowId(r.batchId)
  ) {
    entry.workflowId = r.workflowId;
  }
  return entry;
}

function continueAsNewDue(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

// The fleet poller of one provider profile (workflow id `<task queue>-fleet-<profile>`): it holds the batches in
// flight on that profile and, at an adaptive interval, runs one `sweepFleet` activity that lists the provider's
// pages covering them and signals each batch workflow what changed. Its history grows with sweeps, never with
// batches (the set is read by the activity through a query, and only what was signalled comes back), and it
// continues as new long before that matters. Its state and rules are in FleetState (state.ts).
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
import {
  FLEET_HANDLER_DESCRIPTIONS as about,
  fleetEntriesQuery,
  fleetRegisterSignal,
  fleetStatusQuery,
  fleetUnregisterSignal,
  providerTaskQueue,
} from '../contract';
import type { FleetActivities } from '../shared/activity-types';
import { nowSeconds } from '../shared/clock';
import { historyIsLong } from '../shared/continue-as-new';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/error-types';
import type { FleetRunInput } from './carried-state';
import { resolveFleetPolicy, sweepInterval } from './policy';
import { FleetState } from './state';

/** ~11 events a sweep: a run holds some 180 sweeps (an hour or more) before it starts over with its set. */
const CONTINUE_AS_NEW_AFTER_EVENTS = 2000;

export async function fleetPoller(input: FleetRunInput): Promise<void> {
  if (!input || typeof input.provider !== 'string' || input.provider === '') {
    throw ApplicationFailure.nonRetryable(
      'Invalid input: provider must name a provider profile',
      'InvalidInput',
    );
  }
  const provider = input.provider;
  const policy = resolveFleetPolicy(input.policy);
  const fleet = new FleetState(provider, input.carried, setCurrentDetails);
  const continueAsNewDue = () => historyIsLong(CONTINUE_AS_NEW_AFTER_EVENTS);

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

  setHandler(fleetRegisterSignal, (registrations) => fleet.register(registrations), {
    description: about.register,
  });
  setHandler(fleetUnregisterSignal, (message) => fleet.unregister(message), {
    description: about.unregister,
  });
  setHandler(fleetEntriesQuery, () => fleet.list(), { description: about.entries });
  setHandler(fleetStatusQuery, () => fleet.view(), { description: about.status });

  fleet.publish();
  for (;;) {
    if (fleet.size === 0) {
      // Nothing in flight: no provider call at all until a batch registers.
      fleet.nextSweepAt = null;
      fleet.hurry = false;
      await condition(() => fleet.size > 0 || continueAsNewDue());
    }
    if (continueAsNewDue()) {
      // Registrations being handled go into the carried set.
      await condition(allHandlersFinished);
      await continueAsNew<typeof fleetPoller>({
        provider,
        ...(input.policy ? { policy: input.policy } : {}),
        carried: fleet.carry(),
      });
    }
    if (fleet.size === 0) continue;
    fleet.hurry = false;
    try {
      fleet.applySweep(
        await sweepFleet.executeWithOptions({ ...sweepOptions, summary: `sweep ${fleet.size} batches` }, [
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
      fleet.sweepFailed();
    }
    fleet.publish();
    let deadline = nowSeconds() + sweepInterval(fleet.lastSweep, policy);
    fleet.nextSweepAt = deadline;
    while (fleet.size > 0 && nowSeconds() < deadline && !continueAsNewDue()) {
      await condition(() => fleet.hurry || continueAsNewDue(), (deadline - nowSeconds()) * 1000);
      if (fleet.hurry) {
        fleet.hurry = false;
        deadline = Math.min(deadline, nowSeconds() + policy.minIntervalSeconds);
        fleet.nextSweepAt = deadline;
      }
    }
  }
}

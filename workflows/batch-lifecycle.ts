import {
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { CALL_OPTIONS } from './activity-options';
import type { BatchActivities } from './activity-types';
import { policyOrFail, validateInput } from './batch-input';
import { fetchResults } from './batch-results';
import { BatchTracker } from './batch-tracker';
import { fleetSnapshotSignal } from './fleet-types';
import { FleetTracking, onProviderQueue } from './fleet-tracking';
import {
  isTerminal,
  cancelSignal,
  providerEventSignal,
  statusQuery,
  type BatchFleetView,
  type BatchOutcome,
  type BatchSnapshot,
  type BatchWorkflowInput,
} from './messages';
import { ParentReports } from './parent-reports';
import { formatDuration } from './presentation';
import {
  ACCESS_RETRY_SECONDS,
  PATCH_KEEP_TRACKING_WITHOUT_ACCESS,
  accessLossType,
  accessMetrics,
} from './provider-access';
import { rootMessage, rootType } from './failures';
import { webUiPublisher } from './web-ui';

export { PATCH_REPORT_OUTCOME_TO_PARENT, PATCH_RETRY_LAST_REPORT } from './parent-reports';

/**
 * Continue-as-new before a run's history grows large even if the server never suggests it:
 * ~11 events per poll, so a run holds ~270 polls and a 336 h DashScope batch takes a handful of runs.
 */
const CONTINUE_AS_NEW_AFTER_EVENTS = 3000;

const { retrieveBatch, cancelBatch, recordOutcome } = proxyActivities<BatchActivities>(CALL_OPTIONS);

/**
 * A batch at the provider, from the first look to its billing: track it (adaptive polls, or sooner on a webhook)
 * until it is terminal, cancel it when asked (a signal, or this workflow being cancelled), then download its
 * results and record what it billed. The batch's state and rules live in BatchTracker; this is the lifecycle.
 */
export async function batchLifecycle(input: BatchWorkflowInput): Promise<BatchOutcome> {
  const ref = validateInput(input);
  const policy = policyOrFail(input);
  const parent = new ParentReports(ref, input.parent, input.carried);
  const batch = new BatchTracker(ref, policy, input.carried);
  const fleet = new FleetTracking(ref, input.carried?.fleet);
  const publish = webUiPublisher(batch, input.searchAttributes !== false);
  const metrics = accessMetrics();

  setHandler(
    cancelSignal,
    (request) => {
      batch.requestCancel(request, 'signal');
      publish();
    },
    {
      description:
        'Cancel the batch at the provider. Payload {"reason"?: string, "requestedBy"?: string}. Duplicates are ' +
        'recorded and sent once; completed requests before the cancel are still billed.',
    },
  );
  setHandler(
    providerEventSignal,
    (event) => {
      if (batch.receiveEvent(event)) publish();
    },
    {
      description:
        'A verified provider webhook about this batch (sent by `batchkeeper webhooks`): the batch is retrieved ' +
        'at once. Duplicates, late and out-of-order events change nothing.',
    },
  );
  setHandler(
    fleetSnapshotSignal,
    (observation) => {
      fleet.receive(observation, batch);
    },
    {
      description:
        "The batch as the profile's fleet poller saw it in batches.list (sent to registered batches): applied " +
        'like a poll result; a terminal status is confirmed by one retrieve.',
    },
  );
  setHandler(statusQuery, () => ({ ...batch.view(), ...withFleet(fleet) }), {
    description:
      'The whole snapshot: provider status and request counts, cancel record, billing, poll schedule.',
  });

  const summary = (text: string): ActivityOptions => ({ ...CALL_OPTIONS, summary: text });
  const observe = async (snapshot: BatchSnapshot) => {
    batch.observe(snapshot);
    publish();
    await parent.progress(snapshot);
  };

  /** One provider call (the cancel when one is pending, else a retrieve). False when access was lost. */
  const lookAtBatch = async (): Promise<boolean> => {
    try {
      if (batch.cancelPending) {
        batch.cancelling();
        const result = await onProviderQueue(
          ref.provider,
          summary(`cancel ${ref.batchId}`),
          (options) => cancelBatch.executeWithOptions(options, [ref]),
          batch.snapshot !== null,
        );
        batch.cancelCalled(result.outcome);
        await observe(result.snapshot);
      } else {
        const snapshot = await onProviderQueue(
          ref.provider,
          summary(`retrieve ${ref.batchId}`),
          (options) => retrieveBatch.executeWithOptions(options, [ref]),
          batch.snapshot !== null,
        );
        batch.polled();
        await observe(snapshot);
      }
    } catch (err) {
      const type = accessLossType(err);
      if (type === null || batch.snapshot === null || !patched(PATCH_KEEP_TRACKING_WITHOUT_ACCESS)) throw err;
      batch.accessDenied(type, rootMessage(err));
      metrics.lost.add(1, { provider: ref.provider, error_type: type });
      publish();
      return false;
    }
    if (batch.accessRestored()) {
      metrics.restored.add(1, { provider: ref.provider });
      publish();
    }
    return true;
  };

  const track = async (allowContinueAsNew: boolean) => {
    /** False right after a fleet snapshot was applied: it stood in for this round's look. */
    let look = true;
    let reached = true;
    while (!batch.terminal) {
      batch.eventPending = false;
      if (look) reached = await lookAtBatch();
      look = true;
      if (batch.terminal) break;
      if (reached) await fleet.register(batch);
      if (allowContinueAsNew && shouldContinueAsNew()) {
        // Let a signal handler that is mid-way finish, so the carried state holds everything received.
        await condition(allHandlersFinished);
        if (!batch.cancelPending) {
          await continueAsNew<typeof batchLifecycle>({
            ...input,
            carried: { ...batch.carry(), ...parent.carry(), ...fleet.carry() },
          });
        }
      }
      const waitSeconds = reached ? fleet.waitSeconds(batch.nextWaitSeconds(), batch) : ACCESS_RETRY_SECONDS;
      batch.waiting(waitSeconds);
      publish();
      if (reached) {
        // A cancel, a provider event or a fleet snapshot ends the wait at once; otherwise the durable timer fires.
        await condition(
          () => batch.cancelPending || batch.eventPending || fleet.pending !== null,
          waitSeconds * 1000,
          { summary: `next poll in ${formatDuration(waitSeconds)}` },
        );
        const seen = fleet.take();
        // A terminal status is confirmed by one retrieve before anything is billed: the next look.
        if (seen && !batch.cancelPending && !batch.eventPending && !isTerminal(seen.snapshot.status)) {
          await observe(seen.snapshot);
          look = false;
        }
      } else {
        // Without access a pending cancel cannot be sent either: it goes out with the next attempt.
        await condition(() => false, waitSeconds * 1000, {
          summary: `provider refused access: retry in ${formatDuration(waitSeconds)}`,
        });
      }
      batch.waiting(null);
    }
    batch.trackingEnded();
  };

  const finish = async (): Promise<BatchOutcome> => {
    batch.phase = 'finished';
    publish();
    await fleet.unregister(batch);
    if (!batch.results && !batch.resultsError) {
      const fetched = await fetchResults(input, ref, batch.snapshot as BatchSnapshot);
      batch.results = fetched.results;
      batch.resultsError = fetched.resultsError;
    }
    const outcome = batch.outcome();
    await recordOutcome.executeWithOptions(summary(`record billing for ${ref.batchId}`), [
      {
        workflowId: workflowInfo().workflowId,
        outcome,
        model: input.parent?.model ?? null,
        inputPath: input.parent?.inputPath ?? null,
        sighting: batch.sighting(),
      },
    ]);
    await parent.outcome(outcome);
    return outcome;
  };

  try {
    try {
      await track(true);
      return await finish();
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // Cancelling the workflow must not leave a paid batch running: cancel it at the provider,
      // wait for the terminal status and record billing, shielded from the cancellation itself.
      await CancellationScope.nonCancellable(async () => {
        batch.requestCancel(
          { reason: 'workflow cancelled', requestedBy: 'temporal' },
          'workflow-cancellation',
        );
        await track(false);
        await finish();
      });
      throw err;
    }
  } catch (err) {
    // A parent that continued as new would otherwise wait for this batch forever: tell it why it ends.
    if (parent.reportsOutcome && !(err instanceof ContinueAsNew) && !isCancellation(err)) {
      await CancellationScope.nonCancellable(() =>
        parent.failure(batch.snapshot, { message: rootMessage(err), type: rootType(err) }),
      );
    }
    throw err;
  }
}

/** The status view's `fleet` field, only for runs that registered (older views stay exactly as they were). */
function withFleet(fleet: FleetTracking): { fleet?: BatchFleetView } {
  const view = fleet.view();
  return view ? { fleet: view } : {};
}

function shouldContinueAsNew(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS;
}

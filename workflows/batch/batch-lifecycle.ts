// The batch workflow: one provider batch from the first look to its billing. This file is its lifecycle; the
// batch's state and rules are in BatchTracker (tracker.ts), the calls to the world in BatchSteps (batch-steps.ts).
import {
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  setHandler,
} from '@temporalio/workflow';
import {
  BATCH_HANDLER_DESCRIPTIONS as about,
  cancelSignal,
  fleetSnapshotSignal,
  providerEventSignal,
  statusQuery,
  type BatchOutcome,
} from '../contract';
import { historyIsLong } from '../shared/continue-as-new';
import { BatchSteps } from './batch-steps';
import type { BatchRunInput } from './carried-state';

export { PATCH_REPORT_OUTCOME_TO_PARENT, PATCH_RETRY_LAST_REPORT } from './parent-reports';

/**
 * Continue-as-new before a run's history grows large even if the server never suggests it:
 * ~11 events per poll, so a run holds ~270 polls and a 336 h DashScope batch takes a handful of runs.
 */
const CONTINUE_AS_NEW_AFTER_EVENTS = 3000;

/**
 * A batch at the provider, from the first look to its billing: track it (adaptive polls, or sooner on a webhook
 * or a fleet snapshot) until it is terminal, cancel it when asked (a signal, or this workflow being cancelled),
 * then download its results and record what it billed.
 */
export async function batchLifecycle(input: BatchRunInput): Promise<BatchOutcome> {
  const steps = new BatchSteps(input);
  const { batch, fleet, parent } = steps;

  setHandler(cancelSignal, (request) => batch.cancelSignalled(request), { description: about.cancel });
  setHandler(providerEventSignal, (event) => batch.eventSignalled(event), {
    description: about.providerEvent,
  });
  setHandler(fleetSnapshotSignal, (seen) => fleet.receive(seen, batch), { description: about.fleetSnapshot });
  setHandler(statusQuery, () => ({ ...batch.view(), ...fleet.statusField() }), { description: about.status });

  /** Look, wait, look again until the batch is terminal; continue as new on the way when the history is long. */
  const track = async (allowContinueAsNew: boolean) => {
    /** False right after a fleet snapshot was applied: it stood in for this round's look. */
    let look = true;
    let reached = true;
    while (!batch.terminal) {
      batch.eventPending = false;
      if (look) reached = await steps.look();
      if (batch.terminal) break;
      if (reached) await fleet.register(batch);
      if (allowContinueAsNew && historyIsLong(CONTINUE_AS_NEW_AFTER_EVENTS)) {
        // Let a signal handler that is mid-way finish, so the carried state holds everything received.
        await condition(allHandlersFinished);
        if (!batch.cancelPending) {
          await continueAsNew<typeof batchLifecycle>({
            ...input,
            carried: { ...batch.carry(), ...parent.carry(), ...fleet.carry() },
          });
        }
      }
      look = await steps.wait(reached);
    }
    batch.trackingEnded();
  };

  try {
    try {
      await track(true);
      return await steps.finish();
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
        await steps.finish();
      });
      throw err;
    }
  } catch (err) {
    if (parent.reportsOutcome && !(err instanceof ContinueAsNew) && !isCancellation(err)) {
      await steps.reportFailure(err);
    }
    throw err;
  }
}

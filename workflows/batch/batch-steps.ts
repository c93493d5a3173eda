// The steps of a batch's life that talk to the world (provider calls, the ledger, the parent submission, the
// Web UI), for the lifecycle in batch-lifecycle.ts to sequence. State and rules stay in BatchTracker.
import {
  CancellationScope,
  condition,
  patched,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { isTerminal, type BatchOutcome, type BatchSnapshot } from '../contract';
import { CALL_OPTIONS, onProviderQueue } from '../shared/activity-options';
import type { BatchActivities } from '../shared/activity-types';
import { rootMessage, rootType } from '../shared/failures';
import { formatDuration } from '../shared/presentation';
import type { BatchRunInput } from './carried-state';
import { FleetTracking } from './fleet-tracking';
import { policyOrFail, validateInput } from './input';
import { ParentReports } from './parent-reports';
import {
  ACCESS_RETRY_SECONDS,
  PATCH_KEEP_TRACKING_WITHOUT_ACCESS,
  accessLossType,
  accessMetrics,
} from './provider-access';
import { fetchResults } from './results';
import { BatchTracker } from './tracker';
import { webUiPublisher } from './web-ui';

const { retrieveBatch, cancelBatch, recordOutcome } = proxyActivities<BatchActivities>(CALL_OPTIONS);

export class BatchSteps {
  readonly batch: BatchTracker;
  readonly fleet: FleetTracking;
  readonly parent: ParentReports;
  private readonly metrics = accessMetrics();

  /** Checks the input first: a bad one fails the workflow, not its tasks. */
  constructor(readonly input: BatchRunInput) {
    const ref = validateInput(input);
    const policy = policyOrFail(input);
    this.parent = new ParentReports(ref, input.parent, input.carried);
    this.batch = new BatchTracker(
      ref,
      policy,
      input.carried,
      webUiPublisher(input.searchAttributes !== false),
    );
    this.fleet = new FleetTracking(ref, input.carried?.fleet);
  }

  /** What the provider answered: the state learns it, people see it, the parent submission hears of it. */
  async apply(snapshot: BatchSnapshot): Promise<void> {
    this.batch.apply(snapshot);
    this.batch.publish();
    await this.parent.progress(snapshot);
  }

  /** One provider call (the cancel when one is pending, else a retrieve). False when access was lost. */
  async look(): Promise<boolean> {
    const { batch } = this;
    const ref = batch.ref;
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
        await this.apply(result.snapshot);
      } else {
        const snapshot = await onProviderQueue(
          ref.provider,
          summary(`retrieve ${ref.batchId}`),
          (options) => retrieveBatch.executeWithOptions(options, [ref]),
          batch.snapshot !== null,
        );
        batch.polled();
        await this.apply(snapshot);
      }
    } catch (err) {
      const type = accessLossType(err);
      if (type === null || batch.snapshot === null || !patched(PATCH_KEEP_TRACKING_WITHOUT_ACCESS)) throw err;
      batch.accessDenied(type, rootMessage(err));
      this.metrics.lost.add(1, { provider: ref.provider, error_type: type });
      batch.publish();
      return false;
    }
    if (batch.accessRestored()) {
      this.metrics.restored.add(1, { provider: ref.provider });
      batch.publish();
    }
    return true;
  }

  /**
   * Waits for the next look: the adaptive schedule's durable timer, cut short by a cancel, a provider event or a
   * fleet snapshot; without access, the access retry. False when a fleet snapshot stood in for the next look.
   */
  async wait(reached: boolean): Promise<boolean> {
    const { batch, fleet } = this;
    let look = true;
    const waitSeconds = reached ? fleet.waitSeconds(batch.nextWaitSeconds(), batch) : ACCESS_RETRY_SECONDS;
    batch.waiting(waitSeconds);
    batch.publish();
    if (reached) {
      await condition(
        () => batch.cancelPending || batch.eventPending || fleet.pending !== null,
        waitSeconds * 1000,
        { summary: `next poll in ${formatDuration(waitSeconds)}` },
      );
      const seen = fleet.take();
      // A terminal status is confirmed by one retrieve before anything is billed: the next look.
      if (seen && !batch.cancelPending && !batch.eventPending && !isTerminal(seen.snapshot.status)) {
        await this.apply(seen.snapshot);
        look = false;
      }
    } else {
      // Without access a pending cancel cannot be sent either: it goes out with the next attempt.
      await condition(() => false, waitSeconds * 1000, {
        summary: `provider refused access: retry in ${formatDuration(waitSeconds)}`,
      });
    }
    batch.waiting(null);
    return look;
  }

  /** The terminal batch: its results fetched, its billing recorded once, its parent told. */
  async finish(): Promise<BatchOutcome> {
    const { batch, input } = this;
    const ref = batch.ref;
    batch.phase = 'finished';
    batch.publish();
    await this.fleet.unregister(batch);
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
    await this.parent.outcome(outcome);
    return outcome;
  }

  /** A parent that continued as new would otherwise wait for this batch forever: tell it why it ends. */
  async reportFailure(err: unknown): Promise<void> {
    await CancellationScope.nonCancellable(() =>
      this.parent.failure(this.batch.snapshot, { message: rootMessage(err), type: rootType(err) }),
    );
  }
}

function summary(text: string): ActivityOptions {
  return { ...CALL_OPTIONS, summary: text };
}

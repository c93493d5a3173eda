// The road of submissions started before bounded history (patch 'submit-bounded-history' in submit-batch.ts).
// Frozen: it must emit the very commands it always did, so those runs replay and finish unchanged. Such runs
// live at most ~14 days (the longest window plus resubmission rounds); after that, replace the patch by
// deprecatePatch() and delete this file.
import { CancellationScope, ParentClosePolicy, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { BatchOutcome, SubmitOutcome, SubmittedBatch } from '../contract';
import { newCancelRecord } from '../shared/cancel-record';
import type { SubmissionChunk } from '../shared/submission-activity-types';
import type { QueuedPart } from './carried-state';
import type { BatchHandle, SubmissionSteps } from './steps';

/**
 * Every chunk's batch is created at once; each child's result is awaited on its handle (no continue-as-new, so
 * the handles last); children are started with REQUEST_CANCEL, so terminating the submission cancels them.
 */
export async function runLegacySubmission(
  steps: SubmissionSteps,
  children: Map<string, BatchHandle>,
): Promise<SubmitOutcome> {
  const { input, st } = steps;
  const forwardCancel = steps.forwardCancelLegacy;

  const runChunk = async (round: number, part: QueuedPart): Promise<SubmittedBatch | null> => {
    const started = await CancellationScope.nonCancellable(async () => {
      if (st.cancel) return null;
      const created = await steps.createBatch(round, part);
      const entry = steps.newEntry(round, part, created);
      // If this workflow is terminated, its batches are still cancelled at the provider, not abandoned.
      const handle = await steps.startBatchWorkflow(entry, part, ParentClosePolicy.REQUEST_CANCEL);
      st.started(entry, part.chunk?.path ?? null);
      children.set(entry.workflowId, handle);
      // A cancel that arrived while the batch was being created.
      if (st.cancel) await forwardCancel(handle);
      return { entry, handle };
    });
    if (!started) return null;
    const record = (outcome: BatchOutcome) => st.recordOutcome(started.entry.workflowId, outcome);
    try {
      // The child was started in a non-cancellable scope, so its result does not see this workflow being
      // cancelled: race it against the cancellation of our own scope.
      record(await Promise.race([started.handle.result(), CancellationScope.current().cancelRequested]));
    } catch (err) {
      if (!isCancellation(err)) throw err;
      await CancellationScope.nonCancellable(async () => {
        st.view.cancel ??= newCancelRecord(
          { reason: 'submission workflow cancelled', requestedBy: 'temporal' },
          'workflow-cancellation',
          false,
        );
        await forwardCancel(started.handle);
        record(await started.handle.result());
      });
      throw err;
    }
    return started.entry;
  };

  const runRound = async (round: number, parts: QueuedPart[]) => {
    const work = parts.map((p) => runChunk(round, p));
    st.view.phase = round === 0 ? 'running' : 'resubmitting';
    // allSettled: on a cancellation every batch finishes its own cancel before this workflow closes.
    const settled = await Promise.allSettled(work);
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    const done = settled
      .map((r) => (r as PromiseFulfilledResult<SubmittedBatch | null>).value)
      .filter((b): b is SubmittedBatch => b !== null);
    st.closeRound(round);
    return done;
  };

  steps.validated(await steps.validate(input.submission.source, workflowInfo().workflowId));
  let current = await runRound(0, st.queue);
  for (let round = 1; round <= steps.rounds && !st.cancel; round++) {
    const next: SubmissionChunk[] = [];
    for (const b of current) next.push(...(await steps.resubmissionOf(b, round)));
    if (next.length === 0) break;
    current = await runRound(
      round,
      next.map((c, i) => ({
        chunk: { index: i, path: c.path, bytes: c.bytes, sha256: c.sha256 },
        inputFileId: null,
      })),
    );
  }
  st.view.phase = 'finished';
  st.refresh();
  return st.outcome(input.provider, st.lines ?? 0);
}

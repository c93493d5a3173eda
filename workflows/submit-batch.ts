import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { FILE_OPTIONS, LOCAL_FILE_OPTIONS } from './activity-options';
import type { BatchActivities } from './activity-types';
import { newCancelRecord } from './cancel-record';
import { batchLifecycle } from './batch-lifecycle';
import { ZERO_BILLING, addBilling } from './billing';
import {
  batchWorkflowId,
  cancelSignal,
  childProgressSignal,
  submitStatusQuery,
  type BatchOutcome,
  type RoundTotals,
  type SubmitOutcome,
  type SubmitStatusView,
  type SubmitWorkflowInput,
  type SubmittedBatch,
} from './messages';
import { startMetadata } from './presentation';
import type { SubmissionChunk } from './submission-types';

const MAX_RESUBMIT_ROUNDS = 3;

const { validateSubmission, buildResubmission } = proxyActivities<BatchActivities>(LOCAL_FILE_OPTIONS);
const { createBatch } = proxyActivities<BatchActivities>(FILE_OPTIONS);

/**
 * A submission: validate the JSONL (every problem, by line, before any upload or cost), split it over the
 * provider's limits, create one batch per chunk idempotently (tagged, adopted on retry), and track each in its
 * own `batch-<id>` child workflow, so the batch-id contract (cancel signal, status query) holds for them too.
 * Optional rounds resubmit the failed or never-run lines; their totals are kept apart.
 */
export async function submitBatch(input: SubmitWorkflowInput): Promise<SubmitOutcome> {
  const info = workflowInfo();
  const rounds = Math.min(MAX_RESUBMIT_ROUNDS, Math.max(0, Math.floor(input.resubmit?.rounds ?? 0)));
  const view: SubmitStatusView = {
    phase: 'validating',
    provider: input.provider,
    endpoint: input.submission?.endpoint,
    lines: null,
    chunks: null,
    batches: [],
    progress: { total: 0, completed: 0, failed: 0 },
    cancel: null,
  };
  const children = new Map<string, ChildWorkflowHandle<typeof batchLifecycle>>();
  /** The staging file each batch ran (by workflow id): what a resubmission picks its lines from. */
  const chunkPaths = new Map<string, string>();

  const refreshProgress = () => {
    view.progress = view.batches.reduce(
      (acc, b) => ({
        total: acc.total + b.requestCounts.total,
        completed: acc.completed + b.requestCounts.completed,
        failed: acc.failed + b.requestCounts.failed,
      }),
      { total: 0, completed: 0, failed: 0 },
    );
    const { total, completed, failed } = view.progress;
    setCurrentDetails(
      `**${view.phase}**: ${view.batches.length} batch(es), ${completed + failed}/${total} done, ${failed} failed` +
        (view.cancel ? `\n\nCancel requested ${view.cancel.requestedAt}` : ''),
    );
  };

  const forwardCancel = async (child: ChildWorkflowHandle<typeof batchLifecycle>) => {
    try {
      await child.signal(cancelSignal, {
        reason: view.cancel?.reason ?? undefined,
        requestedBy: view.cancel?.requestedBy ?? `submission ${info.workflowId}`,
      });
    } catch {
      // A child that already finished needs no cancel.
    }
  };

  setHandler(
    cancelSignal,
    async (request) => {
      if (view.cancel) {
        view.cancel.duplicates += 1;
        return;
      }
      view.cancel = newCancelRecord(request, 'signal', view.phase === 'finished');
      refreshProgress();
      await Promise.all([...children.values()].map(forwardCancel));
    },
    {
      description:
        'Cancel every batch of this submission (forwarded to each batch workflow); stops resubmission.',
    },
  );
  setHandler(
    childProgressSignal,
    (p) => {
      const b = view.batches.find((x) => x.workflowId === p.workflowId);
      if (b && !b.outcome) {
        b.status = p.status;
        b.requestCounts = p.requestCounts;
        refreshProgress();
      }
    },
    { description: 'Progress reports of the batch workflows this submission started.' },
  );
  setHandler(submitStatusQuery, () => view, {
    description: 'Phase, every batch with its status and counts, live totals, cancel record.',
  });

  const runChunk = async (
    round: number,
    chunk: Pick<SubmissionChunk, 'index' | 'path' | 'bytes' | 'sha256'> | null,
    inputFileId: string | null,
  ): Promise<SubmittedBatch | null> => {
    // Creating a batch and starting its workflow must not be torn apart by a cancellation:
    // a batch created at the provider without a workflow would run (and bill) unwatched.
    const started = await CancellationScope.nonCancellable(async () => {
      if (view.cancel) return null;
      const index = chunk?.index ?? 0;
      const created = await createBatch({
        provider: input.provider,
        workflowId: `${info.workflowId}/r${round}/c${index}`,
        chunk: chunk ?? undefined,
        inputFileId: inputFileId ?? undefined,
        endpoint: input.submission.endpoint,
        completionWindow: input.submission.completionWindow,
        metadata: input.submission.metadata,
        // Part of the content key (the lines name it too); an activity input, so no change to the commands.
        model: validatedModel ?? undefined,
        // Provider timestamps are wall-clock: bound the search by the worker's clock, not workflow time.
        searchSince: searchSince - 3600,
      });
      const batchId = created.snapshot.id;
      const entry: SubmittedBatch = {
        round,
        chunkIndex: index,
        batchId,
        workflowId: batchWorkflowId(batchId),
        adopted: created.adopted,
        status: created.snapshot.status,
        requestCounts: created.snapshot.requestCounts,
        outcome: null,
      };
      const handle = await startChild(batchLifecycle, {
        workflowId: entry.workflowId,
        args: [
          {
            batchId,
            provider: input.provider,
            pollPolicy: input.pollPolicy,
            results: input.results,
            searchAttributes: input.searchAttributes,
            parent: {
              workflowId: info.workflowId,
              chunkIndex: index,
              round,
              inputPath: chunk?.path ?? null,
              model: validatedModel,
              // A staged chunk was uploaded by us; a `fileId` source belongs to the user.
              inputUploaded: chunk !== null,
            },
          },
        ],
        ...startMetadata(batchId, input.provider),
        // If this workflow is terminated, its batches are still cancelled at the provider, not abandoned.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      });
      view.batches.push(entry);
      children.set(entry.workflowId, handle);
      if (chunk) chunkPaths.set(entry.workflowId, chunk.path);
      refreshProgress();
      // A cancel that arrived while the batch was being created.
      if (view.cancel) await forwardCancel(handle);
      return { entry, handle };
    });
    if (!started) return null;
    const record = (outcome: BatchOutcome) => {
      started.entry.outcome = outcome;
      started.entry.status = outcome.status;
      started.entry.requestCounts = outcome.snapshot.requestCounts;
      refreshProgress();
    };
    try {
      // The child was started in a non-cancellable scope, so its result does not see this workflow being
      // cancelled: race it against the cancellation of our own scope.
      record(await Promise.race([started.handle.result(), CancellationScope.current().cancelRequested]));
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // Cancelling the submission cancels its batches at the provider and waits for their final billing,
      // like cancelling a batch's own workflow does.
      await CancellationScope.nonCancellable(async () => {
        view.cancel ??= newCancelRecord(
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

  const validate = async (source: SubmitWorkflowInput['submission']['source'], id: string) => {
    try {
      return await validateSubmission({
        provider: input.provider,
        submissionId: id,
        source,
        endpoint: input.submission.endpoint,
        completionWindow: input.submission.completionWindow,
        metadata: input.submission.metadata,
        defaultModel: input.submission.defaultModel,
        limits: input.submission.limits,
      });
    } catch (err) {
      // The activity's message lists the problems by line: make it the workflow's own failure.
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof ApplicationFailure && cause.type === 'InvalidSubmission') {
        throw ApplicationFailure.nonRetryable(cause.message, 'InvalidSubmission', ...(cause.details ?? []));
      }
      throw err;
    }
  };

  if (!input?.provider || !input.submission?.endpoint || !input.submission.source) {
    throw ApplicationFailure.nonRetryable(
      'Invalid input: provider, submission.source and submission.endpoint are required',
      'InvalidInput',
    );
  }

  const validated = await validate(input.submission.source, info.workflowId);
  const searchSince = validated.validatedAt;
  const validatedModel = validated.model ?? input.submission.defaultModel ?? null;
  view.lines = validated.lines;
  view.chunks = validated.inputFileId ? 1 : validated.chunks.length;
  view.phase = 'creating';
  refreshProgress();

  const roundTotals: RoundTotals[] = [];
  const runRound = async (round: number, chunks: SubmissionChunk[], inputFileId: string | null) => {
    const work = inputFileId
      ? [runChunk(round, null, inputFileId)]
      : chunks.map((c) => runChunk(round, c, null));
    view.phase = round === 0 ? 'running' : 'resubmitting';
    // allSettled: on a cancellation every batch finishes its own cancel before this workflow closes.
    const settled = await Promise.allSettled(work);
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    const done = settled
      .map((r) => (r as PromiseFulfilledResult<SubmittedBatch | null>).value)
      .filter((b): b is SubmittedBatch => b !== null);
    roundTotals.push({
      round,
      batches: done.length,
      billing: done.reduce((acc, b) => (b.outcome ? addBilling(acc, b.outcome.billing) : acc), ZERO_BILLING),
    });
    return done;
  };

  let current = await runRound(0, validated.chunks, validated.inputFileId);
  for (let round = 1; round <= rounds && !view.cancel; round++) {
    const next: SubmissionChunk[] = [];
    for (const b of current) {
      const chunkPath = chunkPaths.get(b.workflowId);
      const o = b.outcome;
      // Only batches that ran to their end and left lines undone; results must be on disk to pick them.
      if (!o || !chunkPath || !o.results || (o.status !== 'completed' && o.status !== 'expired')) continue;
      if (o.billing.failed === 0 && o.billing.notRun === 0) continue;
      const resub = await buildResubmission({
        batchId: b.batchId,
        inputPath: chunkPath,
        mode: input.resubmit?.mode,
      });
      if (!resub.path || resub.lines === 0) continue;
      const again = await validate({ path: resub.path }, `${info.workflowId}-r${round}-${b.batchId}`);
      next.push(...again.chunks);
    }
    if (next.length === 0) break;
    current = await runRound(
      round,
      next.map((c, i) => ({ ...c, index: i })),
      null,
    );
  }

  view.phase = 'finished';
  refreshProgress();
  const first = view.batches.filter((b) => b.round === 0);
  const statuses = first.map((b) => b.outcome?.status);
  const status: SubmitOutcome['status'] = view.cancel
    ? 'cancelled'
    : statuses.every((s) => s === 'completed')
      ? 'completed'
      : statuses.every((s) => s === 'failed')
        ? 'failed'
        : 'partial';
  return {
    provider: input.provider,
    status,
    lines: validated.lines,
    batches: view.batches,
    billing: roundTotals[0]?.billing ?? ZERO_BILLING,
    rounds: roundTotals,
    resultsDirs: view.batches.flatMap((b) => (b.outcome?.results ? [b.outcome.results.dir] : [])),
    cancel: view.cancel,
  };
}

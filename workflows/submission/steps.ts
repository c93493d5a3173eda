// The steps of a submission that talk to the world (activities, child workflows, signals), shared by both roads:
// this version's and the one of runs started before bounded history (legacy.ts).
import {
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  sleep,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
  type ParentClosePolicy,
} from '@temporalio/workflow';
import {
  BATCH_WORKFLOW_TYPE,
  batchWorkflowId,
  cancelSignal,
  startMetadata,
  type AcquireResult,
  type BatchLifecycleWorkflow,
  type CancelRequest,
  type ReleaseRequest,
  type SubmitWorkflowInput,
  type SubmittedBatch,
} from '../contract';
import { CALL_OPTIONS, CREATE_OPTIONS, LOCAL_FILE_OPTIONS } from '../shared/activity-options';
import type { BudgetActivities, SubmissionActivities } from '../shared/activity-types';
import type {
  CreateBatchResult,
  SubmissionChunk,
  ValidatedSubmission,
} from '../shared/submission-activity-types';
import type { QueuedPart, SubmissionRunInput } from './carried-state';
import type { SubmissionState } from './state';

const MAX_RESUBMIT_ROUNDS = 3;

/** A cancel to a batch workflow not found is tried again before it counts as gone (v0.2.0 gave up at once). */
export const PATCH_RETRY_FORWARDED_CANCEL = 'submit-retry-forwarded-cancel';
/** Tries of a cancel to a batch workflow not found (about 20 s) before it counts as gone. */
const FORWARD_ATTEMPTS = 5;
const FORWARD_RETRY_SECONDS = 2;

/**
 * Admission control: parts wait for the (profile, model) token budget when validation found one. Runs that
 * validated before it existed never call patched() (their validation result names no budget).
 */
export const PATCH_TOKEN_BUDGET = 'submit-token-budget';

const { validateSubmission, buildResubmission } = proxyActivities<SubmissionActivities>(LOCAL_FILE_OPTIONS);
const { createBatch } = proxyActivities<SubmissionActivities>(CREATE_OPTIONS);
const { acquireTokenBudget, releaseTokenBudget } = proxyActivities<BudgetActivities>(CALL_OPTIONS);

/** Started by its type name: the submission knows the batch workflow by its contract, not its code. */
export type BatchHandle = ChildWorkflowHandle<BatchLifecycleWorkflow>;

export interface SubmissionSteps {
  input: SubmissionRunInput;
  st: SubmissionState;
  /** Resubmission rounds asked for, bounded. */
  rounds: number;
  validate(source: SubmitWorkflowInput['submission']['source'], id: string): Promise<ValidatedSubmission>;
  /** Records what validation found (lines, chunks, model, clock) and queues round 0's parts. */
  validated(validated: ValidatedSubmission): void;
  createBatch(round: number, part: QueuedPart): Promise<CreateBatchResult>;
  newEntry(round: number, part: QueuedPart, created: CreateBatchResult): SubmittedBatch;
  startBatchWorkflow(
    entry: SubmittedBatch,
    part: QueuedPart,
    policy: ParentClosePolicy,
  ): Promise<BatchHandle>;
  /** The chunks that resubmit a finished batch's failed or never-run lines in `round` (none when nothing to). */
  resubmissionOf(batch: SubmittedBatch, round: number): Promise<SubmissionChunk[]>;
  cancelRequest(): CancelRequest;
  /**
   * A cancel for a batch workflow by its id: reaches it whichever run of this workflow started it. One that is
   * closed yet never reported (terminated by hand) would be waited for forever: it counts as failed instead. A
   * batch workflow between two of its own runs can be briefly not found: only one still not found after a few
   * tries is gone.
   */
  forwardCancel: (workflowId: string) => Promise<void>;
  /** Runs started before bounded history: through the child's handle, once. */
  forwardCancelLegacy: (child: BatchHandle) => Promise<void>;
  /** A part's id at the token budget, also the tag of its batch: one per part and `token_limit_exceeded` try. */
  holderId(round: number, part: QueuedPart): string;
  /** Asks the token budget to admit the part (update-with-start): granted now, or queued. */
  acquire(round: number, part: QueuedPart): Promise<AcquireResult>;
  release(holderId: string, release: Omit<ReleaseRequest, 'holderId'>): Promise<void>;
}

export function submissionSteps(input: SubmissionRunInput, st: SubmissionState): SubmissionSteps {
  const info = workflowInfo();
  const { provider } = input;
  const { endpoint } = input.submission;
  const steps: SubmissionSteps = {
    input,
    st,
    rounds: Math.min(MAX_RESUBMIT_ROUNDS, Math.max(0, Math.floor(input.resubmit?.rounds ?? 0))),
    validate: async (source, id) => {
      try {
        return await validateSubmission({
          provider,
          submissionId: id,
          source,
          endpoint,
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
    },
    validated: (v) => {
      st.lines = v.lines;
      st.model = v.model ?? input.submission.defaultModel ?? null;
      st.validatedAt = v.validatedAt;
      st.view.lines = v.lines;
      st.view.chunks = v.inputFileId ? 1 : v.chunks.length;
      const budget = v.tokenBudget && patched(PATCH_TOKEN_BUDGET) ? v.tokenBudget : null;
      if (budget) st.view.tokenBudget = { ...budget, waiting: [], tokenLimitRetries: 0, since: Date.now() };
      st.queue = v.inputFileId
        ? [{ chunk: null, inputFileId: v.inputFileId }]
        : v.chunks.map((c) => ({
            chunk: { index: c.index, path: c.path, bytes: c.bytes, sha256: c.sha256 },
            inputFileId: null,
            ...(budget && c.tokens !== undefined ? { tokens: c.tokens } : {}),
          }));
      st.view.phase = 'creating';
      st.refresh();
    },
    createBatch: (round, part) =>
      createBatch({
        provider,
        workflowId: steps.holderId(round, part),
        chunk: part.chunk ?? undefined,
        inputFileId: part.inputFileId ?? undefined,
        endpoint,
        completionWindow: input.submission.completionWindow,
        metadata: input.submission.metadata,
        // Part of the content key (the lines name it too); an activity input, so no change to the commands.
        model: st.model ?? undefined,
        // Provider timestamps are wall-clock: bound the search by the worker's clock, not workflow time.
        searchSince: st.validatedAt - 3600,
      }),
    newEntry: (round, part, created) => ({
      round,
      chunkIndex: part.chunk?.index ?? 0,
      batchId: created.snapshot.id,
      workflowId: batchWorkflowId(created.snapshot.id),
      adopted: created.adopted,
      status: created.snapshot.status,
      requestCounts: created.snapshot.requestCounts,
      outcome: null,
    }),
    startBatchWorkflow: (entry, part, policy) =>
      startChild<BatchLifecycleWorkflow>(BATCH_WORKFLOW_TYPE, {
        workflowId: entry.workflowId,
        args: [
          {
            batchId: entry.batchId,
            provider,
            pollPolicy: input.pollPolicy,
            results: input.results,
            searchAttributes: input.searchAttributes,
            parent: {
              workflowId: info.workflowId,
              chunkIndex: entry.chunkIndex,
              round: entry.round,
              inputPath: part.chunk?.path ?? null,
              model: st.model,
              // A staged chunk was uploaded by us; a `fileId` source belongs to the user.
              inputUploaded: part.chunk !== null,
            },
          },
        ],
        ...startMetadata(entry.batchId, provider),
        parentClosePolicy: policy,
      }),
    resubmissionOf: async (b, round) => {
      const chunkPath = st.chunkPaths.get(b.workflowId);
      const o = b.outcome;
      // Only batches that ran to their end and left lines undone; results must be on disk to pick them.
      if (!o || !chunkPath || !o.results || (o.status !== 'completed' && o.status !== 'expired')) return [];
      if (o.billing.failed === 0 && o.billing.notRun === 0) return [];
      const resub = await buildResubmission({
        batchId: b.batchId,
        inputPath: chunkPath,
        mode: input.resubmit?.mode,
      });
      if (!resub.path || resub.lines === 0) return [];
      return (await steps.validate({ path: resub.path }, `${info.workflowId}-r${round}-${b.batchId}`)).chunks;
    },
    cancelRequest: () => ({
      reason: st.cancel?.reason ?? undefined,
      requestedBy: st.cancel?.requestedBy ?? `submission ${info.workflowId}`,
    }),
    forwardCancel: async (workflowId) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await getExternalWorkflowHandle(workflowId).signal(cancelSignal, steps.cancelRequest());
          return;
        } catch (err) {
          if (isCancellation(err)) throw err;
          if (!(err instanceof ApplicationFailure && /not found/i.test(err.message))) return;
        }
        // A batch that finished reported its outcome before it closed: nothing is recorded for it.
        if (!st.running().some((b) => b.workflowId === workflowId)) return;
        if (attempt >= FORWARD_ATTEMPTS || !patched(PATCH_RETRY_FORWARDED_CANCEL)) {
          st.recordFailure(
            workflowId,
            'the batch workflow closed without reporting an outcome',
            'BatchWorkflowGone',
          );
          return;
        }
        await sleep(attempt * FORWARD_RETRY_SECONDS * 1000);
      }
    },
    forwardCancelLegacy: async (child) => {
      try {
        await child.signal(cancelSignal, steps.cancelRequest());
      } catch {
        // A child that already finished needs no cancel.
      }
    },
    holderId: (round, part) =>
      `${info.workflowId}/r${round}/c${part.chunk?.index ?? 0}` + (part.tries ? `/t${part.tries}` : ''),
    acquire: (round, part) => {
      const b = st.budget as NonNullable<typeof st.budget>;
      return acquireTokenBudget({
        budgetId: b.budgetId,
        provider,
        model: b.model,
        request: {
          holderId: steps.holderId(round, part),
          owner: info.workflowId,
          tokens: part.tokens ?? 0,
          priority: input.priority ?? 0,
          // Milliseconds of workflow time: submissions validated within the same second keep their order.
          submittedAt: b.since ?? st.validatedAt * 1000,
          order: round * 1_000_000 + (part.chunk?.index ?? 0),
          limit: b.limit,
          maxBatches: b.maxBatches,
        },
      });
    },
    release: (holderId, release) => {
      const b = st.budget as NonNullable<typeof st.budget>;
      return releaseTokenBudget({
        budgetId: b.budgetId,
        provider,
        model: b.model,
        release: { holderId, ...release },
      });
    },
  };
  return steps;
}

/**
 * The `cancel` signal: recorded once, then forwarded to every batch workflow of the submission (runs started
 * before bounded history: through their child handles).
 */
export async function forwardCancels(
  steps: SubmissionSteps,
  request: CancelRequest | undefined,
  bounded: boolean,
  children: Map<string, BatchHandle>,
): Promise<void> {
  const { st } = steps;
  if (!st.requestCancel(request, 'signal')) return;
  if (!bounded) {
    await Promise.all([...children.values()].map(steps.forwardCancelLegacy));
    return;
  }
  // Shielded: a cancellation of this workflow arriving meanwhile must not withdraw the batches' cancels.
  await CancellationScope.nonCancellable(() =>
    Promise.all(st.running().map((b) => steps.forwardCancel(b.workflowId))),
  );
}

import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { FILE_OPTIONS, LOCAL_FILE_OPTIONS } from './activity-options';
import type { BatchActivities } from './activity-types';
import { newCancelRecord } from './cancel-record';
import { batchLifecycle } from './batch-lifecycle';
import {
  batchWorkflowId,
  cancelSignal,
  submitStatusQuery,
  type CancelRequest,
  type SubmitOutcome,
  type SubmitWorkflowInput,
  type SubmittedBatch,
} from './messages';
import { childProgressSignal, type QueuedPart } from './carried-state';
import { InvalidPollPolicyError, resolvePollPolicy } from './poll-schedule';
import { startMetadata } from './presentation';
import { runLegacySubmission } from './submit-batch-legacy';
import { SubmissionState, type BatchFailure } from './submission-state';
import type { CreateBatchResult, SubmissionChunk, ValidatedSubmission } from './submission-types';

const MAX_RESUBMIT_ROUNDS = 3;

/**
 * Continue-as-new before a run's history grows large even if the server never suggests it: the bound
 * batchLifecycle uses too. A run also makes some progress before it may continue, so the smallest threshold a
 * test may set cannot loop.
 */
const CONTINUE_AS_NEW_AFTER_EVENTS = 3000;
const MIN_CONTINUE_AS_NEW_AFTER_EVENTS = 100;

/**
 * Batches being created at once. Each creation uploads up to 200 MB, so this also spares the worker and the
 * provider; and a run that must continue as new waits for at most this many creations to finish first, which
 * bounds how far it overshoots the threshold.
 */
const MAX_CREATING = 10;

/**
 * Patch ids: behaviour changed after the workflow shipped. Runs that started before take the old road on replay.
 *
 * Bounded history. A submission's history used to grow with batches x window: every batch's hourly progress
 * report cost it ~4 events and it never continued as new. Now its batches report status changes only, their
 * last report carries the outcome, and it continues as new with its whole state. Child handles do not survive
 * continue-as-new, so outcomes come from those reports (and, in the run that started a batch, from its
 * completion too), cancels go through external handles, and batches are started with ParentClosePolicy.ABANDON:
 * the policy applies whenever a parent run closes, continue-as-new included (temporalio/temporal#3666), so
 * REQUEST_CANCEL would cancel every running batch at the first continue-as-new.
 */
export const PATCH_BOUNDED_HISTORY = 'submit-bounded-history';
/** The workflow closes only after its handlers finished (a cancel being forwarded to every batch). */
export const PATCH_WAIT_FOR_HANDLERS = 'submit-wait-for-handlers';

/** A cancel to a batch workflow not found is tried again before it counts as gone (v0.2.0 gave up at once). */
export const PATCH_RETRY_FORWARDED_CANCEL = 'submit-retry-forwarded-cancel';
/** Tries of a cancel to a batch workflow not found (about 20 s) before it counts as gone. */
const FORWARD_ATTEMPTS = 5;
const FORWARD_RETRY_SECONDS = 2;

const { validateSubmission, buildResubmission } = proxyActivities<BatchActivities>(LOCAL_FILE_OPTIONS);
const { createBatch } = proxyActivities<BatchActivities>(FILE_OPTIONS);

/** The steps both roads (this one and runs started before bounded history) take in the same way. */
export interface SubmissionSteps {
  input: SubmitWorkflowInput;
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
  ): Promise<ChildWorkflowHandle<typeof batchLifecycle>>;
  /** The chunks that resubmit a finished batch's failed or never-run lines in `round` (none when nothing to). */
  resubmissionOf(batch: SubmittedBatch, round: number): Promise<SubmissionChunk[]>;
  cancelRequest(): CancelRequest;
}

/**
 * A submission: validate the JSONL (every problem, by line, before any upload or cost), split it over the
 * provider's limits, create one batch per chunk idempotently (tagged, adopted on retry), and track each in its
 * own `batch-<id>` child workflow, so the batch-id contract (cancel signal, status query) holds for them too.
 * Optional rounds resubmit the failed or never-run lines; their totals are kept apart. The history stays bounded
 * whatever the number of batches and the window: the workflow continues as new with its state.
 */
export async function submitBatch(input: SubmitWorkflowInput): Promise<SubmitOutcome> {
  // Before anything reads the input: a bad one fails the workflow, not its tasks (which would retry forever).
  const problems = inputProblems(input);
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(`Invalid input: ${problems.join('; ')}`, 'InvalidInput');
  }
  const info = workflowInfo();
  // Decided once, at the start: a run that started its batches with REQUEST_CANCEL must never continue as new.
  const bounded = patched(PATCH_BOUNDED_HISTORY);
  const publish = (s: SubmissionState) => setCurrentDetails(s.details());
  const { provider } = input;
  const { endpoint } = input.submission;
  const st = input.carried
    ? SubmissionState.fromCarried(provider, endpoint, input.carried, publish)
    : new SubmissionState(provider, endpoint, publish);
  const children = new Map<string, ChildWorkflowHandle<typeof batchLifecycle>>();

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
      st.queue = v.inputFileId
        ? [{ chunk: null, inputFileId: v.inputFileId }]
        : v.chunks.map((c) => ({
            chunk: { index: c.index, path: c.path, bytes: c.bytes, sha256: c.sha256 },
            inputFileId: null,
          }));
      st.view.phase = 'creating';
      st.refresh();
    },
    createBatch: (round, part) =>
      createBatch({
        provider,
        workflowId: `${info.workflowId}/r${round}/c${part.chunk?.index ?? 0}`,
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
      startChild(batchLifecycle, {
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
  };

  /**
   * A cancel for a batch workflow by its id: reaches it whichever run of this workflow started it. One that is
   * closed yet never reported (terminated by hand) would be waited for forever: it counts as failed instead. A
   * batch workflow between two of its own runs can be briefly not found: only one still not found after a few
   * tries is gone.
   */
  const forwardCancel = async (workflowId: string) => {
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
  };
  const forwardCancelLegacy = async (child: ChildWorkflowHandle<typeof batchLifecycle>) => {
    try {
      await child.signal(cancelSignal, steps.cancelRequest());
    } catch {
      // A child that already finished needs no cancel.
    }
  };

  setHandler(
    cancelSignal,
    async (request) => {
      if (st.cancel) {
        st.cancel.duplicates += 1;
        return;
      }
      st.view.cancel = newCancelRecord(request, 'signal', st.view.phase === 'finished');
      st.refresh();
      if (!bounded) {
        await Promise.all([...children.values()].map(forwardCancelLegacy));
        return;
      }
      // Shielded: a cancellation of this workflow arriving meanwhile must not withdraw the batches' cancels.
      await CancellationScope.nonCancellable(() =>
        Promise.all(st.running().map((b) => forwardCancel(b.workflowId))),
      );
    },
    {
      description:
        'Cancel every batch of this submission (forwarded to each batch workflow); stops resubmission.',
    },
  );
  setHandler(childProgressSignal, (p) => st.applyReport(p, bounded), {
    description: 'Status changes and, last, the outcome of the batch workflows this submission started.',
  });
  setHandler(submitStatusQuery, () => st.view, {
    description: 'Phase, every batch with its status and counts, totals so far, cancel record, run.',
  });

  const runBounded = async (): Promise<SubmitOutcome> => {
    const threshold = Math.max(
      MIN_CONTINUE_AS_NEW_AFTER_EVENTS,
      Math.min(CONTINUE_AS_NEW_AFTER_EVENTS, input.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS),
    );
    const startVersion = st.version;
    /** Continue as new only once this run did something (a batch created, a report, a resubmission step). */
    const shouldContinueAsNew = () => {
      const now = workflowInfo();
      return st.version !== startVersion && (now.continueAsNewSuggested || now.historyLength >= threshold);
    };
    let creating = 0;
    /**
     * Batch workflows this run started that have not closed yet. A batch reports its outcome just before its
     * workflow closes; waiting for the close too (where this run can see it) means a submission that ends has no
     * batch workflow still open behind it.
     */
    const closing = new Set<string>();
    /** The error objects of failures seen in this run: their cause chain is richer than the carried message. */
    const errors = new Map<BatchFailure, Error>();

    const continueAsNewNow = async (): Promise<never> => {
      // A batch being created must be in the carried list with its workflow started, and a handler mid-way
      // (a cancel being forwarded) must have finished, so the carried state holds everything.
      await condition(() => creating === 0);
      await condition(allHandlersFinished);
      return continueAsNew<typeof submitBatch>({ ...input, carried: st.toCarried() });
    };

    const createAndStart = async (round: number, part: QueuedPart): Promise<void> => {
      // Creating a batch and starting its workflow must not be torn apart by a cancellation:
      // a batch created at the provider without a workflow would run (and bill) unwatched.
      await CancellationScope.nonCancellable(async () => {
        if (st.cancel) return;
        const created = await steps.createBatch(round, part);
        const entry = steps.newEntry(round, part, created);
        st.announce(entry);
        let handle: ChildWorkflowHandle<typeof batchLifecycle>;
        try {
          handle = await steps.startBatchWorkflow(entry, part, ParentClosePolicy.ABANDON);
        } catch (err) {
          st.notStarted(entry.workflowId);
          throw err;
        }
        st.started(entry, part.chunk?.path ?? null);
        closing.add(entry.workflowId);
        // While this run lasts, the completion is a second source of the outcome, and the only news of a batch
        // workflow that was terminated. A cancelled one reported its outcome before it closed.
        void handle.result().then(
          (outcome) => {
            closing.delete(entry.workflowId);
            st.recordOutcome(entry.workflowId, outcome);
            st.touch();
          },
          (err: unknown) => {
            closing.delete(entry.workflowId);
            if (!isCancellation(err)) st.recordFailure(entry.workflowId, rootMessage(err), rootType(err));
            st.touch();
          },
        );
        // A cancel that arrived while the batch was being created.
        if (st.cancel) await forwardCancel(entry.workflowId);
      });
    };

    const runRound = async (round: number) => {
      for (;;) {
        if (st.cancel) st.queue = [];
        while (creating < MAX_CREATING && st.queue.length > 0 && !shouldContinueAsNew()) {
          const part = st.queue.shift() as QueuedPart;
          creating += 1;
          void createAndStart(round, part).then(
            () => {
              creating -= 1;
              st.touch();
            },
            (err: unknown) => {
              creating -= 1;
              const failure: BatchFailure = {
                workflowId: null,
                message: rootMessage(err),
                type: rootType(err),
              };
              if (err instanceof Error) errors.set(failure, err);
              st.failures.push(failure);
              st.refresh();
            },
          );
        }
        if (creating === 0 && st.queue.length === 0 && st.running(round).length === 0 && closing.size === 0)
          return;
        if (shouldContinueAsNew()) await continueAsNewNow();
        const seen = st.version;
        await condition(() => st.version !== seen || shouldContinueAsNew());
      }
    };

    const throwIfFailed = () => {
      const [first] = st.failures;
      if (!first) return;
      const own = errors.get(first);
      if (own !== undefined) throw own;
      const cause = ApplicationFailure.create({
        message: first.message,
        type: first.type ?? undefined,
        nonRetryable: true,
      });
      if (first.workflowId === null) throw cause;
      throw ApplicationFailure.create({
        message: `batch workflow ${first.workflowId} failed: ${first.message}`,
        type: 'BatchWorkflowFailed',
        nonRetryable: true,
        cause,
      });
    };

    const collectResubmission = async (round: number): Promise<SubmissionChunk[]> => {
      const collecting = (st.collecting ??= { next: 0, chunks: [] });
      const from = st.batchesOf(round - 1);
      while (collecting.next < from.length) {
        if (shouldContinueAsNew()) await continueAsNewNow();
        collecting.chunks.push(...(await steps.resubmissionOf(from[collecting.next], round)));
        collecting.next += 1;
        st.touch();
      }
      st.collecting = null;
      return collecting.chunks;
    };

    try {
      if (!input.carried) steps.validated(await steps.validate(input.submission.source, info.workflowId));
      for (;;) {
        if (!st.rounds.some((r) => r.round === st.round)) {
          st.view.phase = st.round === 0 ? 'running' : 'resubmitting';
          st.refresh();
          await runRound(st.round);
          throwIfFailed();
          st.closeRound(st.round);
        }
        if (st.round >= steps.rounds || st.cancel) break;
        const next = await collectResubmission(st.round + 1);
        if (next.length === 0 || st.cancel) break;
        st.round += 1;
        st.queue = next.map((c, i) => ({
          chunk: { index: i, path: c.path, bytes: c.bytes, sha256: c.sha256 },
          inputFileId: null,
        }));
      }
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // Cancelling the submission cancels its batches at the provider and waits for their final billing,
      // like cancelling a batch's own workflow does.
      await CancellationScope.nonCancellable(async () => {
        if (!st.cancel) {
          st.view.cancel = newCancelRecord(
            { reason: 'submission workflow cancelled', requestedBy: 'temporal' },
            'workflow-cancellation',
            false,
          );
          st.refresh();
          await Promise.all(st.running().map((b) => forwardCancel(b.workflowId)));
        }
        await condition(() => creating === 0 && st.running().length === 0 && closing.size === 0);
      });
      throw err;
    }
    st.view.phase = 'finished';
    st.refresh();
    return st.outcome(provider, st.lines ?? 0);
  };

  try {
    return bounded ? await runBounded() : await runLegacySubmission(steps, children, forwardCancelLegacy);
  } finally {
    if (patched(PATCH_WAIT_FOR_HANDLERS)) {
      await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    }
  }
}

/** The failure under an activity's or a child's wrapper: what a person needs to read. */
function rootFailure(err: unknown): unknown {
  return err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? (err.cause ?? err) : err;
}

function rootMessage(err: unknown): string {
  const root = rootFailure(err);
  return root instanceof Error ? root.message : String(root);
}

function rootType(err: unknown): string | null {
  const root = rootFailure(err);
  return root instanceof ApplicationFailure ? (root.type ?? null) : null;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/**
 * Shapes and types only; what a provider accepts (endpoint, window, metadata and limit values) the validation
 * activity checks, with every problem by line.
 */
function inputProblems(input: SubmitWorkflowInput): string[] {
  if (!isObject(input)) return ['input must be an object'];
  const problems: string[] = [];
  if (!nonEmptyString(input.provider))
    problems.push('provider must name a provider profile configured on the worker');
  const submission: unknown = input.submission;
  if (!isObject(submission)) {
    problems.push('submission must be an object with source and endpoint');
  } else {
    const source = submission.source;
    if (source === undefined || source === null) {
      problems.push('submission.source is required: {"path": ...} or {"fileId": ...}');
    } else if (!isObject(source) || !(nonEmptyString(source.path) || nonEmptyString(source.fileId))) {
      problems.push('submission.source must be {"path": non-empty string} or {"fileId": non-empty string}');
    }
    if (!nonEmptyString(submission.endpoint)) problems.push('submission.endpoint must be a non-empty string');
    for (const key of ['completionWindow', 'defaultModel'] as const) {
      if (submission[key] !== undefined && typeof submission[key] !== 'string')
        problems.push(`submission.${key} must be a string`);
    }
    const metadata = submission.metadata;
    if (
      metadata !== undefined &&
      (!isObject(metadata) || Object.values(metadata).some((v) => typeof v !== 'string'))
    ) {
      problems.push('submission.metadata must be an object of strings');
    }
    if (submission.limits !== undefined && !isObject(submission.limits))
      problems.push('submission.limits must be an object');
  }
  const resubmit: unknown = input.resubmit;
  if (resubmit !== undefined) {
    if (!isObject(resubmit)) problems.push('resubmit must be an object');
    else {
      if (resubmit.rounds !== undefined && !(typeof resubmit.rounds === 'number' && resubmit.rounds >= 0))
        problems.push('resubmit.rounds must be a number >= 0');
      if (resubmit.mode !== undefined && resubmit.mode !== 'unsuccessful' && resubmit.mode !== 'retryable')
        problems.push("resubmit.mode must be 'unsuccessful' or 'retryable'");
    }
  }
  // Checked here as each batch workflow would check it: after the batches are created (and paid for) is too late.
  if (input.pollPolicy !== undefined) {
    if (!isObject(input.pollPolicy)) problems.push('pollPolicy must be an object');
    else {
      try {
        resolvePollPolicy(input.pollPolicy);
      } catch (err) {
        if (!(err instanceof InvalidPollPolicyError)) throw err;
        problems.push(err.message.replace(/^Invalid poll policy: /, 'pollPolicy: '));
      }
    }
  }
  if (input.results !== undefined && !isObject(input.results)) problems.push('results must be an object');
  if (input.searchAttributes !== undefined && typeof input.searchAttributes !== 'boolean')
    problems.push('searchAttributes must be a boolean');
  const can: unknown = input.continueAsNewAfterEvents;
  if (can !== undefined && !(typeof can === 'number' && Number.isInteger(can) && can > 0))
    problems.push('continueAsNewAfterEvents must be a positive integer');
  return problems;
}

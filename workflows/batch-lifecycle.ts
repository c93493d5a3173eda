import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  metricMeter,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { CALL_OPTIONS, FILE_OPTIONS } from './activity-options';
import { ErrorTypes, type BatchActivities, type BatchRef } from './activity-types';
import { newCancelRecord } from './cancel-record';
import { computeBilling } from './billing';
import {
  cancelSignal,
  childProgressSignal,
  providerEventSignal,
  isTerminal,
  statusQuery,
  type BatchOutcome,
  type BatchSnapshot,
  type BatchStatus,
  type BatchStatusView,
  type BatchWorkflowInput,
  type CancelSource,
  type ChildProgress,
  type ProviderAccessLoss,
  type ProviderEventsRecord,
  type CarriedState,
  type PollPolicy,
  type ResultsRecord,
  type TerminalStatus,
  type WorkflowPhase,
} from './messages';
import {
  InvalidPollPolicyError,
  initialSchedule,
  nextWaitSeconds,
  observe,
  pushedPolicy,
  resolvePollPolicy,
} from './poll-schedule';
import { currentDetails, formatDuration } from './presentation';
import {
  changedSearchAttributes,
  searchAttributeValues,
  type SearchAttributeValues,
} from './search-attributes';

/**
 * Continue-as-new before a run's history grows large even if the server never suggests it:
 * ~11 events per poll, so a run holds ~270 polls and a 336 h DashScope batch takes a handful of runs.
 */
const CONTINUE_AS_NEW_AFTER_EVENTS = 3000;

const { retrieveBatch, cancelBatch, recordOutcome } = proxyActivities<BatchActivities>(CALL_OPTIONS);
const { downloadResults, cleanupRemoteFiles } = proxyActivities<BatchActivities>(FILE_OPTIONS);
/**
 * Progress to a parent submission, in runs started before PATCH_REPORT_OUTCOME_TO_PARENT: on every status change,
 * else at most hourly. Every report costs the parent ~4 history events, so these hourly reports made its history
 * grow with batches x window (~38 batches over 336 h reach Temporal's 51,200-event limit).
 */
const PARENT_PROGRESS_EVERY_SECONDS = 3600;

/**
 * Patch ids: behaviour changed after the workflow shipped. Runs that started before take the old road on replay
 * (their histories in test/fixtures/histories are frozen); new runs take the new one.
 */
const PATCH_KEEP_TRACKING_WITHOUT_ACCESS = 'keep-tracking-without-provider-access';
const PATCH_CLEANUP_OWN_FILES_ONLY = 'cleanup-own-files-only';
/**
 * A submission's batch reports status changes only (a handful per batch, whatever the window), and its last
 * report carries the outcome, or the failure. The submission continues as new, which its child handles do not
 * survive: this report is how a later run of it learns each batch's result. Each batch's own `status` query
 * keeps the live counts in between.
 */
export const PATCH_REPORT_OUTCOME_TO_PARENT = 'report-outcome-to-parent';
/**
 * The last report is retried: a parent between two runs (continue-as-new) can be briefly not found (the Java test
 * server shows it), and a parent that continued as new has no other way to learn the outcome. A parent that is
 * gone stays gone: after these attempts (about 20 s) the batch ends all the same, billed. Runs of v0.2.0 ended
 * at the first refusal (patched).
 */
export const PATCH_RETRY_LAST_REPORT = 'retry-last-report-to-parent';
const LAST_REPORT_ATTEMPTS = 5;
const LAST_REPORT_RETRY_SECONDS = 2;

/**
 * Once a batch has been seen it runs and bills at the provider whatever happens to our key or profile, so these
 * failures pause tracking (retried at this interval, shown in status) instead of ending it. Before the first
 * successful look they still fail the workflow: a wrong batch id or profile at `track` time.
 */
const ACCESS_LOSS_TYPES: readonly string[] = [
  ErrorTypes.auth,
  ErrorTypes.missingApiKey,
  ErrorTypes.unknownProvider,
  ErrorTypes.notFound,
];
const ACCESS_RETRY_SECONDS = 600;
/** Webhook ids remembered for deduplication (providers redeliver the same event, in no guaranteed order). */
const RECENT_EVENT_IDS = 50;

export async function batchLifecycle(input: BatchWorkflowInput): Promise<BatchOutcome> {
  const ref = validateInput(input);
  const policy = policyOrFail(input);
  const carried = input.carried;
  // Decided once per run: a run started before the patch keeps its hourly reports to the end, and its parent (also
  // older) gets the outcome from the child's completion. Tracked batches have no parent and need no marker.
  const reportsOutcome = input.parent ? patched(PATCH_REPORT_OUTCOME_TO_PARENT) : false;
  const state: CarriedState & {
    phase: WorkflowPhase;
    lastPolledAt: string | null;
    nextPollAt: string | null;
    results: ResultsRecord | null;
    resultsError: string | null;
    accessLost: ProviderAccessLoss | null;
    events: ProviderEventsRecord;
  } = {
    snapshot: carried?.snapshot ?? null,
    cancel: carried?.cancel ?? null,
    cancelSent: carried?.cancelSent ?? false,
    schedule: carried?.schedule ?? initialSchedule(policy),
    providerCalls: carried?.providerCalls ?? 0,
    polls: carried?.polls ?? 0,
    runs: (carried?.runs ?? 0) + 1,
    startedAt: carried?.startedAt ?? new Date().toISOString(),
    phase: carried?.cancelSent ? 'cancelling' : 'tracking',
    results: null,
    resultsError: null,
    accessLost: carried?.accessLost ?? null,
    events: carried?.events ?? { received: 0, duplicates: 0, late: 0, last: null, recentIds: [] },
    lastPolledAt: null,
    nextPollAt: null,
  };

  const terminalNow = () => state.snapshot !== null && isTerminal(state.snapshot.status);
  // Pushed (webhooks on the worker's profile): polls are a sparse safety net.
  const pollPolicy = () => (state.snapshot?.pushed ? pushedPolicy(policy) : policy);
  /** A provider event arrived since the last call: look at the batch now. */
  let eventPending = false;
  const cancelPending = () => state.cancel !== null && !state.cancel.tooLate && !state.cancelSent;

  const requestCancel = (request: unknown, source: CancelSource) => {
    if (state.cancel) {
      state.cancel.duplicates += 1;
      return;
    }
    state.cancel = newCancelRecord(request, source, terminalNow());
  };

  // After the results are downloaded their summed tokens (DashScope has no usage) and cross-check count too.
  const billingNow = (snapshot: BatchSnapshot) =>
    computeBilling(snapshot, state.results?.tokens ?? null, state.results);

  let published: SearchAttributeValues = {};
  let nextPollInSeconds: number | null = null;
  /** Mirrors the state where people look: current details (no history cost) and changed search attributes. */
  const publish = () => {
    setCurrentDetails(
      currentDetails({
        batchId: ref.batchId,
        provider: ref.provider,
        snapshot: state.snapshot,
        cancel: state.cancel,
        billing: state.snapshot && terminalNow() ? billingNow(state.snapshot) : null,
        nextPollInSeconds,
        polls: state.polls,
        run: state.runs,
        accessLost: state.accessLost,
        events: state.events,
      }),
    );
    if (input.searchAttributes === false) return;
    const next = searchAttributeValues(ref.batchId, ref.provider, state.snapshot, state.cancel);
    const updates = changedSearchAttributes(published, next);
    if (updates.length > 0) upsertSearchAttributes(updates);
    published = next;
  };

  setHandler(
    cancelSignal,
    (request) => {
      requestCancel(request, 'signal');
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
      // A hint, never the truth: the batch is retrieved at once and follows its normal path.
      if (!event || typeof event.webhookId !== 'string' || typeof event.type !== 'string') return;
      const events = state.events;
      if (events.recentIds.includes(event.webhookId)) {
        events.duplicates += 1;
        return;
      }
      events.recentIds = [...events.recentIds, event.webhookId].slice(-RECENT_EVENT_IDS);
      events.received += 1;
      events.last = {
        type: event.type,
        webhookId: event.webhookId,
        createdAt: typeof event.createdAt === 'number' ? event.createdAt : 0,
        receivedAt: new Date().toISOString(),
      };
      if (terminalNow()) events.late += 1;
      else eventPending = true;
      publish();
    },
    {
      description:
        'A verified provider webhook about this batch (sent by `batchkeeper webhooks`): the batch is retrieved ' +
        'at once. Duplicates, late and out-of-order events change nothing.',
    },
  );
  setHandler(
    statusQuery,
    (): BatchStatusView => ({
      batchId: ref.batchId,
      provider: ref.provider,
      phase: state.phase,
      snapshot: state.snapshot,
      cancel: state.cancel,
      billing: state.snapshot && terminalNow() ? billingNow(state.snapshot) : null,
      polls: state.polls,
      providerCalls: state.providerCalls,
      lastPolledAt: state.lastPolledAt,
      nextPollAt: state.nextPollAt,
      startedAt: state.startedAt,
      run: state.runs,
      pollPolicy: pollPolicy(),
      results: state.results,
      resultsError: state.resultsError,
      accessLost: state.accessLost,
      events: state.events,
    }),
    {
      description:
        'The whole snapshot: provider status and request counts, cancel record, billing, poll schedule.',
    },
  );

  let lastProgressSent: { status: BatchStatus; at: number; done: number } | null =
    reportsOutcome && carried?.parentReportedStatus
      ? { status: carried.parentReportedStatus, at: nowSeconds(), done: 0 }
      : null;
  /** `attempts` > 1 for the last report, which the parent cannot do without (see LAST_REPORT_ATTEMPTS). */
  const signalParent = async (
    report: Pick<ChildProgress, 'status' | 'requestCounts' | 'outcome' | 'failure'>,
    attempts = 1,
  ) => {
    const parent = input.parent;
    if (!parent) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await getExternalWorkflowHandle(parent.workflowId).signal(childProgressSignal, {
          batchId: ref.batchId,
          workflowId: workflowInfo().workflowId,
          chunkIndex: parent.chunkIndex,
          round: parent.round,
          ...report,
        });
        return;
      } catch (err) {
        // A parent that is gone does not stop a paid batch from being tracked.
        if (isCancellation(err)) throw err;
        if (attempt >= attempts || !patched(PATCH_RETRY_LAST_REPORT)) return;
      }
      await sleep(attempt * LAST_REPORT_RETRY_SECONDS * 1000);
    }
  };
  const reportToParent = async () => {
    const snapshot = state.snapshot;
    if (!input.parent || !snapshot) return;
    // The terminal status goes with the outcome, once results and billing are known (finish).
    if (reportsOutcome && isTerminal(snapshot.status)) return;
    const done = snapshot.requestCounts.completed + snapshot.requestCounts.failed;
    const now = nowSeconds();
    const due =
      lastProgressSent === null ||
      lastProgressSent.status !== snapshot.status ||
      (!reportsOutcome &&
        done !== lastProgressSent.done &&
        now - lastProgressSent.at >= PARENT_PROGRESS_EVERY_SECONDS);
    if (!due) return;
    lastProgressSent = { status: snapshot.status, at: now, done };
    await signalParent({ status: snapshot.status, requestCounts: snapshot.requestCounts });
  };

  const apply = async (snapshot: BatchSnapshot) => {
    state.snapshot = snapshot;
    state.schedule = observe(state.schedule, snapshot, nowSeconds(), pollPolicy());
    state.lastPolledAt = new Date().toISOString();
    publish();
    await reportToParent();
  };
  const withSummary = (summary: string): ActivityOptions => ({ ...CALL_OPTIONS, summary });
  const accessMetrics = {
    lost: metricMeter.createCounter(
      'batchkeeper_provider_access_denied',
      'calls',
      'Provider calls of a tracked batch refused for its key or profile (401/403, missing key, unknown profile, 404)',
    ),
    restored: metricMeter.createCounter(
      'batchkeeper_provider_access_restored',
      'batches',
      'Batches whose tracking resumed after the provider refused access',
    ),
  };

  /** One provider call (cancel when one is pending, else retrieve). False when access was lost: tracking pauses. */
  const callProvider = async (): Promise<boolean> => {
    try {
      if (cancelPending()) {
        state.phase = 'cancelling';
        const result = await cancelBatch.executeWithOptions(withSummary(`cancel ${ref.batchId}`), [ref]);
        state.providerCalls += 1;
        state.cancelSent = true;
        if (state.cancel) {
          state.cancel.providerCalledAt = new Date().toISOString();
          state.cancel.providerOutcome = result.outcome;
        }
        await apply(result.snapshot);
      } else {
        const snapshot = await retrieveBatch.executeWithOptions(withSummary(`retrieve ${ref.batchId}`), [
          ref,
        ]);
        state.providerCalls += 1;
        state.polls += 1;
        await apply(snapshot);
      }
    } catch (err) {
      const type = accessLossType(err);
      if (type === null || state.snapshot === null || !patched(PATCH_KEEP_TRACKING_WITHOUT_ACCESS)) throw err;
      state.providerCalls += 1;
      state.accessLost = {
        since: state.accessLost?.since ?? new Date().toISOString(),
        type,
        message: failureMessage(err),
        attempts: (state.accessLost?.attempts ?? 0) + 1,
      };
      accessMetrics.lost.add(1, { provider: ref.provider, error_type: type });
      publish();
      return false;
    }
    if (state.accessLost) {
      state.accessLost = null;
      accessMetrics.restored.add(1, { provider: ref.provider });
      publish();
    }
    return true;
  };

  const track = async (allowContinueAsNew: boolean) => {
    while (!terminalNow()) {
      eventPending = false;
      const reached = await callProvider();
      if (terminalNow()) break;

      if (allowContinueAsNew && shouldContinueAsNew()) {
        // Let a signal handler that is mid-way finish, so the carried state holds everything received.
        await condition(allHandlersFinished);
        if (!cancelPending()) {
          await continueAsNew<typeof batchLifecycle>({
            ...input,
            carried: {
              snapshot: state.snapshot,
              cancel: state.cancel,
              cancelSent: state.cancelSent,
              schedule: state.schedule,
              providerCalls: state.providerCalls,
              polls: state.polls,
              runs: state.runs,
              startedAt: state.startedAt,
              ...(state.accessLost ? { accessLost: state.accessLost } : {}),
              ...(state.events.received + state.events.duplicates > 0 ? { events: state.events } : {}),
              // The next run does not report a status its parent already has.
              ...(reportsOutcome && lastProgressSent
                ? { parentReportedStatus: lastProgressSent.status }
                : {}),
            },
          });
        }
      }

      const snapshot = state.snapshot as BatchSnapshot;
      const waitSeconds = reached
        ? nextWaitSeconds(state.schedule, snapshot, nowSeconds(), pollPolicy(), state.cancelSent)
        : ACCESS_RETRY_SECONDS;
      state.nextPollAt = new Date(Date.now() + waitSeconds * 1000).toISOString();
      nextPollInSeconds = waitSeconds;
      publish();
      if (reached) {
        // A cancel or a provider event ends the wait at once; otherwise the durable timer fires.
        await condition(() => cancelPending() || eventPending, waitSeconds * 1000, {
          summary: `next poll in ${formatDuration(waitSeconds)}`,
        });
      } else {
        // Without access a pending cancel cannot be sent either: it goes out with the next attempt.
        await condition(() => false, waitSeconds * 1000, {
          summary: `provider refused access: retry in ${formatDuration(waitSeconds)}`,
        });
      }
      state.nextPollAt = null;
      nextPollInSeconds = null;
    }
    // A cancel that arrived while the last poll was finding the batch terminal was never sent: too late.
    if (state.cancel && !state.cancelSent) state.cancel.tooLate = true;
  };

  const fetchResults = async (snapshot: BatchSnapshot): Promise<void> => {
    if (input.results?.download === false || (!snapshot.outputFileId && !snapshot.errorFileId)) return;
    try {
      const downloaded = await downloadResults.executeWithOptions(
        { ...FILE_OPTIONS, summary: `download results of ${ref.batchId}` },
        [
          {
            provider: ref.provider,
            batchId: ref.batchId,
            outputFileId: snapshot.outputFileId,
            errorFileId: snapshot.errorFileId,
            inputPath: input.parent?.inputPath ?? undefined,
          },
        ],
      );
      let remoteFilesDeleted: string[] = [];
      let remoteCleanup: ResultsRecord['remoteCleanup'];
      const plan = patched(PATCH_CLEANUP_OWN_FILES_ONLY)
        ? cleanupPlan(input, snapshot)
        : // Runs started before the rule: they delete what they always did.
          { run: input.results?.cleanupRemote !== false, inputFileId: snapshot.inputFileId, reason: null };
      if (plan.run) {
        // Only after the stored results re-verify: the provider's copy is the last one otherwise.
        const cleaned = await cleanupRemoteFiles.executeWithOptions(
          { ...FILE_OPTIONS, summary: `delete provider files of ${ref.batchId}` },
          [{ provider: ref.provider, batchId: ref.batchId, inputFileId: plan.inputFileId }],
        );
        remoteFilesDeleted = cleaned.verified ? cleaned.deleted : [];
        if (plan.reason !== null) {
          remoteCleanup = cleaned.verified
            ? { deleted: cleaned.deleted, reason: plan.reason }
            : {
                deleted: [],
                reason: `kept: the stored results did not verify (${cleaned.mismatches.slice(0, 3).join('; ')})`,
              };
        }
      } else if (plan.reason !== null) {
        remoteCleanup = { deleted: [], reason: plan.reason };
      }
      const { summary } = downloaded;
      state.results = {
        dir: downloaded.dir,
        files: downloaded.files,
        summary: {
          succeeded: summary.succeeded,
          failed: summary.failed,
          failedByCode: summary.failedByCode,
          notRun: summary.notRun,
          notRunByCode: summary.notRunByCode,
        },
        remoteFilesDeleted,
        ...(remoteCleanup ? { remoteCleanup } : {}),
        tokens: downloaded.tokens,
      };
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Billing does not wait on results the provider will not give (a non-retryable failure): record why.
      state.resultsError =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
  };

  const finish = async (): Promise<BatchOutcome> => {
    const snapshot = state.snapshot as BatchSnapshot;
    state.phase = 'finished';
    publish();
    if (!state.results && !state.resultsError) await fetchResults(snapshot);
    const outcome: BatchOutcome = {
      batchId: ref.batchId,
      provider: ref.provider,
      status: snapshot.status as TerminalStatus,
      billing: computeBilling(snapshot, state.results?.tokens ?? null, state.results),
      errors: snapshot.errors,
      cancel: state.cancel,
      snapshot,
      providerCalls: state.providerCalls,
      runs: state.runs,
      results: state.results,
      resultsError: state.resultsError,
    };
    await recordOutcome.executeWithOptions(withSummary(`record billing for ${ref.batchId}`), [
      {
        workflowId: workflowInfo().workflowId,
        outcome,
        model: input.parent?.model ?? null,
        inputPath: input.parent?.inputPath ?? null,
      },
    ]);
    if (reportsOutcome) {
      await signalParent(
        { status: outcome.status, requestCounts: snapshot.requestCounts, outcome },
        LAST_REPORT_ATTEMPTS,
      );
    }
    return outcome;
  };

  const run = async (): Promise<BatchOutcome> => {
    try {
      await track(true);
      return await finish();
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // Cancelling the workflow must not leave a paid batch running: cancel it at the provider,
      // wait for the terminal status and record billing, shielded from the cancellation itself.
      await CancellationScope.nonCancellable(async () => {
        requestCancel({ reason: 'workflow cancelled', requestedBy: 'temporal' }, 'workflow-cancellation');
        await track(false);
        await finish();
      });
      throw err;
    }
  };

  try {
    return await run();
  } catch (err) {
    // A parent that continued as new would otherwise wait for this batch forever: tell it why it ends.
    if (reportsOutcome && !(err instanceof ContinueAsNew) && !isCancellation(err)) {
      const snapshot = state.snapshot;
      await CancellationScope.nonCancellable(() =>
        signalParent(
          {
            status: snapshot?.status ?? 'validating',
            requestCounts: snapshot?.requestCounts ?? { total: 0, completed: 0, failed: 0 },
            failure: { message: failureMessage(err), type: failureType(err) },
          },
          LAST_REPORT_ATTEMPTS,
        ),
      );
    }
    throw err;
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** The error type when a provider call failed for lost access (key, profile, 404), else null. */
function accessLossType(err: unknown): string | null {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof ApplicationFailure)) return null;
  const type = err.cause.type ?? null;
  return type !== null && ACCESS_LOSS_TYPES.includes(type) ? type : null;
}

function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause instanceof Error) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

function failureType(err: unknown): string | null {
  const root = err instanceof ActivityFailure ? err.cause : err;
  return root instanceof ApplicationFailure ? (root.type ?? null) : null;
}

interface CleanupPlan {
  run: boolean;
  inputFileId: string | null;
  /** Why the provider's files are (or are not) deleted: part of the results record. */
  reason: string | null;
}

/**
 * Destroy nothing batchkeeper did not create: by default only a batch it created (a submission's child) has its
 * output and error files deleted, and its input file only when batchkeeper uploaded it. A tracked batch (created
 * by another service) keeps every file unless the caller opted in.
 */
function cleanupPlan(input: BatchWorkflowInput, snapshot: BatchSnapshot): CleanupPlan {
  const option = input.results?.cleanupRemote;
  if (option === false)
    return {
      run: false,
      inputFileId: null,
      reason: 'kept: remote clean-up turned off (cleanupRemote: false)',
    };
  if (option === true) {
    return {
      run: true,
      inputFileId: snapshot.inputFileId,
      reason: 'deleted on request (cleanupRemote: true): output, error and input files',
    };
  }
  if (!input.parent) {
    return {
      run: false,
      inputFileId: null,
      reason:
        'kept: a tracked batch (not created by batchkeeper) keeps its provider files; opt in with cleanupRemote: true (--cleanup-remote)',
    };
  }
  const ownInput = input.parent.inputUploaded === true;
  return {
    run: true,
    inputFileId: ownInput ? snapshot.inputFileId : null,
    reason: ownInput
      ? 'created by batchkeeper (submit): output, error and the input file it uploaded deleted'
      : 'created by batchkeeper (submit) from a file it did not upload: output and error files deleted, input kept',
  };
}

function shouldContinueAsNew(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS;
}

function validateInput(input: BatchWorkflowInput): BatchRef {
  const problems: string[] = [];
  if (!input || typeof input !== 'object')
    throw ApplicationFailure.nonRetryable('Input must be an object', 'InvalidInput');
  if (typeof input.batchId !== 'string' || input.batchId.trim() === '')
    problems.push('batchId must be a non-empty string');
  if (typeof input.provider !== 'string' || input.provider.trim() === '') {
    problems.push('provider must name a provider profile configured on the worker');
  }
  if (problems.length > 0)
    throw ApplicationFailure.nonRetryable(`Invalid input: ${problems.join('; ')}`, 'InvalidInput');
  return { batchId: input.batchId, provider: input.provider };
}

function policyOrFail(input: BatchWorkflowInput): PollPolicy {
  try {
    return resolvePollPolicy(input.pollPolicy);
  } catch (err) {
    if (err instanceof InvalidPollPolicyError)
      throw ApplicationFailure.nonRetryable(err.message, 'InvalidInput');
    throw err;
  }
}

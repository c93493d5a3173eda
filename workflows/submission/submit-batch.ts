// The submission workflow: a JSONL file to batches, each tracked by its own batch workflow. This file is its
// lifecycle; its state is SubmissionState (state.ts), one run's mechanics SubmissionRun (run.ts), the calls to
// the world SubmissionSteps (steps.ts).
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  SUBMISSION_HANDLER_DESCRIPTIONS as about,
  budgetGrantedSignal,
  budgetPingSignal,
  cancelSignal,
  submitStatusQuery,
  type SubmitOutcome,
} from '../contract';
import { childProgressSignal } from '../shared/child-progress';
import type { SubmissionRunInput } from './carried-state';
import { inputProblems } from './input';
import { runLegacySubmission } from './legacy';
import { SubmissionRun } from './run';
import { SubmissionState } from './state';
import { forwardCancels, submissionSteps, type BatchHandle, type SubmissionSteps } from './steps';

export { PATCH_RETRY_FORWARDED_CANCEL, PATCH_TOKEN_BUDGET } from './steps';

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

/**
 * A submission: validate the JSONL (every problem, by line, before any upload or cost), split it over the
 * provider's limits, create one batch per chunk idempotently (tagged, adopted on retry), and track each in its
 * own `batch-<id>` child workflow, so the batch-id contract (cancel signal, status query) holds for them too.
 * Optional rounds resubmit the failed or never-run lines; their totals are kept apart. The history stays bounded
 * whatever the number of batches and the window: the workflow continues as new with its state.
 */
export async function submitBatch(input: SubmissionRunInput): Promise<SubmitOutcome> {
  // Before anything reads the input: a bad one fails the workflow, not its tasks (which would retry forever).
  const problems = inputProblems(input);
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(`Invalid input: ${problems.join('; ')}`, 'InvalidInput');
  }
  // Decided once, at the start: a run that started its batches with REQUEST_CANCEL must never continue as new.
  const bounded = patched(PATCH_BOUNDED_HISTORY);
  const publish = (s: SubmissionState) => setCurrentDetails(s.details());
  const { provider } = input;
  const { endpoint } = input.submission;
  const st = input.carried
    ? SubmissionState.fromCarried(provider, endpoint, input.carried, publish)
    : new SubmissionState(provider, endpoint, publish);
  const steps = submissionSteps(input, st);
  /** Runs started before bounded history only: their batches' handles (they never continue as new). */
  const children = new Map<string, BatchHandle>();

  setHandler(cancelSignal, (request) => forwardCancels(steps, request, bounded, children), {
    description: about.cancel,
  });
  setHandler(childProgressSignal, (p) => st.applyReport(p, bounded), { description: about.childProgress });
  setHandler(budgetGrantedSignal, (g) => st.grant(g.holderId), { description: about.budgetGranted });
  setHandler(budgetPingSignal, () => undefined, { description: about.budgetPing });
  setHandler(submitStatusQuery, () => st.view, { description: about.status });

  try {
    return bounded ? await runBounded(steps) : await runLegacySubmission(steps, children);
  } finally {
    if (patched(PATCH_WAIT_FOR_HANDLERS)) {
      await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    }
  }
}

/** Validate once, then round by round: create and track the batches, then collect what to resubmit. */
async function runBounded(steps: SubmissionSteps): Promise<SubmitOutcome> {
  const { input, st } = steps;
  const run = new SubmissionRun(steps, (carried) => continueAsNew<typeof submitBatch>({ ...input, carried }));
  try {
    if (!input.carried)
      steps.validated(await steps.validate(input.submission.source, workflowInfo().workflowId));
    for (;;) {
      if (!st.rounds.some((r) => r.round === st.round)) {
        st.view.phase = st.round === 0 ? 'running' : 'resubmitting';
        st.refresh();
        await run.round(st.round);
        run.throwIfFailed();
        st.closeRound(st.round);
      }
      if (st.round >= steps.rounds || st.cancel) break;
      const next = await run.collectResubmission(st.round + 1);
      if (next.length === 0 || st.cancel) break;
      st.nextRound(next);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(() => run.cancelAll());
    throw err;
  }
  st.view.phase = 'finished';
  st.refresh();
  return st.outcome(input.provider, st.lines ?? 0);
}

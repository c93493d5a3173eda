// The mechanics of one run of a bounded submission: batches created a few at a time (each with its workflow
// started, never torn apart), outcomes gathered from reports and completions, resubmissions collected, and
// continue-as-new once the run's history is large, with everything it holds carried over.
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  isCancellation,
} from '@temporalio/workflow';
import { historyIsLong } from '../shared/continue-as-new';
import { rootMessage, rootType } from '../shared/failures';
import type { SubmissionChunk } from '../shared/submission-activity-types';
import type { BudgetHold, QueuedPart, SubmitCarriedState } from './carried-state';
import type { BatchFailure, SubmissionState } from './state';
import type { BatchHandle, SubmissionSteps } from './steps';

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
 * A batch the provider failed with `token_limit_exceeded` (never billed) is created again, at most this many times
 * per part, after a backoff that doubles from the first.
 */
const MAX_TOKEN_LIMIT_TRIES = 3;
const TOKEN_LIMIT_BACKOFF_MS = 60_000;

export class SubmissionRun {
  private readonly st: SubmissionState;
  private readonly threshold: number;
  private readonly startVersion: number;
  private creating = 0;
  /** The acquire of the part before (token budget): the next waits for it. */
  private acquiring: Promise<void> = Promise.resolve();
  /**
   * Batch workflows this run started that have not closed yet. A batch reports its outcome just before its
   * workflow closes; waiting for the close too (where this run can see it) means a submission that ends has no
   * batch workflow still open behind it.
   */
  private readonly closing = new Set<string>();
  /** The error objects of failures seen in this run: their cause chain is richer than the carried message. */
  private readonly errors = new Map<BatchFailure, Error>();

  constructor(
    private readonly steps: SubmissionSteps,
    /** Continue-as-new of the workflow with this state (typed there: this file does not import the workflow). */
    private readonly restart: (carried: SubmitCarriedState) => Promise<never>,
  ) {
    this.st = steps.st;
    const asked = steps.input.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS;
    this.threshold = Math.max(
      MIN_CONTINUE_AS_NEW_AFTER_EVENTS,
      Math.min(CONTINUE_AS_NEW_AFTER_EVENTS, asked),
    );
    this.startVersion = this.st.version;
  }

  /** Every part of `round` created and every batch of it finished (reported, and its workflow closed). */
  async round(round: number): Promise<void> {
    const st = this.st;
    for (;;) {
      await this.releaseFinished();
      if (st.cancel) st.queue = [];
      while (this.creating < MAX_CREATING && st.queue.length > 0 && !this.shouldContinueAsNew()) {
        const part = st.queue.shift() as QueuedPart;
        this.creating += 1;
        void this.createAndStart(round, part).then(
          () => {
            this.creating -= 1;
            st.touch();
          },
          (err: unknown) => {
            this.creating -= 1;
            const failure: BatchFailure = {
              workflowId: null,
              message: rootMessage(err),
              type: rootType(err),
            };
            if (err instanceof Error) this.errors.set(failure, err);
            st.failures.push(failure);
            st.refresh();
          },
        );
      }
      if (
        this.creating === 0 &&
        st.queue.length === 0 &&
        st.running(round).length === 0 &&
        this.closing.size === 0
      )
        return;
      if (this.shouldContinueAsNew()) await this.continueAsNewNow();
      const seen = st.version;
      await condition(() => st.version !== seen || this.shouldContinueAsNew());
    }
  }

  /** The submission fails when a round had a batch that could not be created or whose workflow failed. */
  throwIfFailed(): void {
    const [first] = this.st.failures;
    if (!first) return;
    const own = this.errors.get(first);
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
  }

  /** The chunks that resubmit the undone lines of `round - 1`'s batches, one batch at a time (carried). */
  async collectResubmission(round: number): Promise<SubmissionChunk[]> {
    const st = this.st;
    const collecting = (st.collecting ??= { next: 0, chunks: [] });
    const from = st.batchesOf(round - 1);
    while (collecting.next < from.length) {
      if (this.shouldContinueAsNew()) await this.continueAsNewNow();
      collecting.chunks.push(...(await this.steps.resubmissionOf(from[collecting.next], round)));
      collecting.next += 1;
      st.touch();
    }
    st.collecting = null;
    return collecting.chunks;
  }

  /**
   * This workflow was cancelled: its batches are cancelled at the provider and their final billing waited for,
   * like cancelling a batch's own workflow does. Run shielded from that cancellation.
   */
  async cancelAll(): Promise<void> {
    const st = this.st;
    if (!st.cancel) {
      st.requestCancel(
        { reason: 'submission workflow cancelled', requestedBy: 'temporal' },
        'workflow-cancellation',
      );
      await Promise.all(st.running().map((b) => this.steps.forwardCancel(b.workflowId)));
    }
    await this.waitReleasing(
      () => this.creating === 0 && st.running().length === 0 && this.closing.size === 0,
    );
  }

  /**
   * Waits for `done` while releasing the budget of batches that end meanwhile: a part of this run waiting for the
   * budget may wait for exactly those releases.
   */
  private async waitReleasing(done: () => boolean): Promise<void> {
    for (;;) {
      await this.releaseFinished();
      if (done()) return;
      const seen = this.st.version;
      await condition(() => done() || this.st.version !== seen);
    }
  }

  /**
   * Frees the token budget held by batches that ended. One the provider failed with `token_limit_exceeded` never
   * ran: its part is queued again (bounded, after a backoff) and the budget told, so it lowers its limit a while.
   */
  private async releaseFinished(): Promise<void> {
    const st = this.st;
    for (const { hold, batch } of st.finishedHolds()) {
      st.holds.delete(hold.holderId);
      const limitHit =
        batch?.outcome?.status === 'failed' &&
        batch.outcome.errors.some((e) => e.code === 'token_limit_exceeded');
      const tries = hold.part.tries ?? 0;
      if (limitHit && batch && !st.cancel && tries < MAX_TOKEN_LIMIT_TRIES) {
        batch.retried = 'token_limit_exceeded';
        const budget = st.budget;
        if (budget) budget.tokenLimitRetries += 1;
        st.queue.push({
          ...hold.part,
          tries: tries + 1,
          notBefore: Date.now() + TOKEN_LIMIT_BACKOFF_MS * 2 ** tries,
        });
        st.refresh();
      }
      await this.steps.release(hold.holderId, {
        tokenLimitExceeded: limitHit || undefined,
        reason: batch?.outcome ? `batch ${batch.outcome.status}` : 'batch workflow failed',
      });
    }
  }

  /**
   * Null when no budget applies; else the part's hold once the budget admitted it, or 'withdrawn' when the
   * submission was cancelled while it waited (its place at the budget is given up).
   */
  private async admit(round: number, part: QueuedPart): Promise<BudgetHold | null | 'withdrawn'> {
    const { st, steps } = this;
    if (!st.budget || part.tokens === undefined) return null;
    if (part.notBefore !== undefined && part.notBefore > Date.now()) {
      const ms = part.notBefore - Date.now();
      await condition(() => st.cancel !== null, ms);
    }
    if (st.cancel) return 'withdrawn';
    const holderId = steps.holderId(round, part);
    const chunkIndex = part.chunk?.index ?? 0;
    // One acquire at a time: parts reach the budget in their order (their creations run side by side).
    const previous = this.acquiring;
    let done = () => undefined as void;
    this.acquiring = new Promise<void>((resolve) => (done = resolve));
    let answer: Awaited<ReturnType<SubmissionSteps['acquire']>>;
    try {
      await previous;
      answer = await steps.acquire(round, part);
    } finally {
      done();
    }
    if (!answer.granted) {
      st.queuedForBudget({
        round,
        chunkIndex,
        tokens: part.tokens,
        tokensAhead: answer.tokensAhead,
        partsAhead: answer.partsAhead,
      });
      await condition(() => st.granted.has(holderId) || st.cancel !== null);
      st.admittedOrWithdrawn(round, chunkIndex);
    }
    st.granted.delete(holderId);
    if (st.cancel) {
      await steps.release(holderId, { reason: 'submission cancelled before its batch was created' });
      return 'withdrawn';
    }
    const hold: BudgetHold = { holderId, round, workflowId: null, part };
    st.holds.set(holderId, hold);
    return hold;
  }

  /** Continue as new only once this run did something (a batch created, a report, a resubmission step). */
  private shouldContinueAsNew(): boolean {
    return this.st.version !== this.startVersion && historyIsLong(this.threshold);
  }

  private async continueAsNewNow(): Promise<never> {
    // A batch being created must be in the carried list with its workflow started, and a handler mid-way
    // (a cancel being forwarded) must have finished, so the carried state holds everything. Parts waiting for the
    // token budget count as being created: releases go on meanwhile, or they could wait for this very run.
    if (this.st.budget) await this.waitReleasing(() => this.creating === 0);
    else await condition(() => this.creating === 0);
    await condition(allHandlersFinished);
    return this.restart(this.st.toCarried());
  }

  private async createAndStart(round: number, part: QueuedPart): Promise<void> {
    const { st, steps } = this;
    // Creating a batch and starting its workflow must not be torn apart by a cancellation:
    // a batch created at the provider without a workflow would run (and bill) unwatched.
    await CancellationScope.nonCancellable(async () => {
      if (st.cancel) return;
      const hold = await this.admit(round, part);
      if (hold === 'withdrawn') return;
      const dropHold = async (why: string) => {
        if (!hold) return;
        st.holds.delete(hold.holderId);
        await steps.release(hold.holderId, { reason: why });
      };
      let created: Awaited<ReturnType<SubmissionSteps['createBatch']>>;
      try {
        created = await steps.createBatch(round, part);
      } catch (err) {
        await dropHold('the batch could not be created');
        throw err;
      }
      const entry = steps.newEntry(round, part, created);
      if (hold) {
        entry.tokens = part.tokens;
        hold.workflowId = entry.workflowId;
      }
      st.announce(entry);
      let handle: BatchHandle;
      try {
        handle = await steps.startBatchWorkflow(entry, part, ParentClosePolicy.ABANDON);
      } catch (err) {
        st.notStarted(entry.workflowId);
        await dropHold('the batch workflow could not be started');
        throw err;
      }
      st.started(entry, part.chunk?.path ?? null);
      this.closing.add(entry.workflowId);
      // While this run lasts, the completion is a second source of the outcome, and the only news of a batch
      // workflow that was terminated. A cancelled one reported its outcome before it closed.
      void handle.result().then(
        (outcome) => {
          this.closing.delete(entry.workflowId);
          st.recordOutcome(entry.workflowId, outcome);
          st.touch();
        },
        (err: unknown) => {
          this.closing.delete(entry.workflowId);
          if (!isCancellation(err)) st.recordFailure(entry.workflowId, rootMessage(err), rootType(err));
          st.touch();
        },
      );
      // A cancel that arrived while the batch was being created.
      if (st.cancel) await steps.forwardCancel(entry.workflowId);
    });
  }
}

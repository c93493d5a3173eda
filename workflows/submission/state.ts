// A submission's state and its rules, apart from the workflow that drives it (no Temporal calls here).
import {
  isTerminal,
  type BatchOutcome,
  type CancelSource,
  type RoundTotals,
  type SubmitOutcome,
  type SubmitStatusView,
  type SubmitTokenBudgetView,
  type SubmittedBatch,
} from '../contract';
import { ZERO_BILLING, addBilling } from '../shared/billing';
import { newCancelRecord } from '../shared/cancel-record';
import type { ChildProgress } from '../shared/child-progress';
import type { SubmissionChunk } from '../shared/submission-activity-types';
import type { BudgetHold, QueuedPart, SubmitCarriedState } from './carried-state';

export interface BatchFailure {
  /** Null when the batch could not be created (no workflow). */
  workflowId: string | null;
  message: string;
  type: string | null;
}

export class SubmissionState {
  readonly view: SubmitStatusView;
  /** The staging file each batch ran (by workflow id): what a resubmission picks its lines from. */
  readonly chunkPaths = new Map<string, string>();
  readonly failures: BatchFailure[] = [];
  readonly rounds: RoundTotals[] = [];
  lines: number | null = null;
  model: string | null = null;
  validatedAt = 0;
  round = 0;
  queue: QueuedPart[] = [];
  collecting: { next: number; chunks: SubmissionChunk[] } | null = null;
  /** Grows on every change the workflow may be waiting for (a report, an outcome, a created batch). */
  version = 0;
  /**
   * Batches whose workflow is being started: a report can arrive before the start does (the child runs as soon
   * as it exists), and must not be lost, above all the last one with the outcome.
   */
  private readonly starting = new Map<string, SubmittedBatch>();
  /** Parts admitted by the token budget whose batch has not ended yet, by holder id (carried). */
  readonly holds = new Map<string, BudgetHold>();
  /** Grants that arrived for parts waiting in this run (a waiting part keeps the run from continuing as new). */
  readonly granted = new Set<string>();

  constructor(
    provider: string,
    endpoint: string,
    private readonly onChange: (state: SubmissionState) => void = () => undefined,
  ) {
    this.view = {
      phase: 'validating',
      provider,
      endpoint,
      lines: null,
      chunks: null,
      batches: [],
      progress: { total: 0, completed: 0, failed: 0 },
      cancel: null,
      run: 1,
    };
  }

  static fromCarried(
    provider: string,
    endpoint: string,
    carried: SubmitCarriedState,
    onChange?: (state: SubmissionState) => void,
  ): SubmissionState {
    const st = new SubmissionState(provider, endpoint, onChange);
    st.view.phase = carried.phase;
    st.view.run = carried.runs + 1;
    st.view.lines = carried.lines;
    st.view.chunks = carried.chunks;
    st.view.batches = carried.batches;
    st.view.cancel = carried.cancel;
    st.lines = carried.lines;
    st.model = carried.model;
    st.validatedAt = carried.validatedAt;
    st.round = carried.round;
    st.queue = carried.queue;
    st.collecting = carried.collecting;
    for (const [id, path] of Object.entries(carried.chunkPaths)) st.chunkPaths.set(id, path);
    st.failures.push(...carried.failures);
    st.rounds.push(...carried.rounds);
    if (carried.tokenBudget) st.view.tokenBudget = carried.tokenBudget;
    for (const h of carried.holds ?? []) st.holds.set(h.holderId, h);
    st.refresh();
    return st;
  }

  toCarried(): SubmitCarriedState {
    return {
      runs: this.view.run ?? 1,
      phase: this.view.phase,
      lines: this.lines ?? 0,
      chunks: this.view.chunks ?? 0,
      model: this.model,
      validatedAt: this.validatedAt,
      round: this.round,
      queue: this.queue,
      collecting: this.collecting,
      batches: this.view.batches,
      chunkPaths: Object.fromEntries(this.chunkPaths),
      failures: this.failures,
      rounds: this.rounds,
      cancel: this.view.cancel,
      ...(this.view.tokenBudget
        ? { tokenBudget: this.view.tokenBudget, holds: [...this.holds.values()] }
        : {}),
    };
  }

  /** The token budget this submission's parts wait for; null when the profile sets none for the model. */
  get budget(): SubmitTokenBudgetView | null {
    return this.view.tokenBudget ?? null;
  }

  /** A part waits for the budget: shown in the status query and the Web UI until it is admitted. */
  queuedForBudget(row: SubmitTokenBudgetView['waiting'][number]): void {
    this.budget?.waiting.push(row);
    this.refresh();
  }

  admittedOrWithdrawn(round: number, chunkIndex: number): void {
    const b = this.budget;
    if (b) b.waiting = b.waiting.filter((w) => w.round !== round || w.chunkIndex !== chunkIndex);
    this.refresh();
  }

  grant(holderId: string): void {
    this.granted.add(holderId);
    this.touch();
  }

  /**
   * Holds whose batch reached its end: a terminal status, an outcome or a failure of its workflow. A `failed`
   * status waits for the outcome, whose errors say whether it was the provider's `token_limit_exceeded`.
   */
  finishedHolds(): { hold: BudgetHold; batch: SubmittedBatch | null }[] {
    const done: { hold: BudgetHold; batch: SubmittedBatch | null }[] = [];
    for (const hold of this.holds.values()) {
      if (hold.workflowId === null) continue;
      const b = this.find(hold.workflowId) ?? null;
      const failed = this.failures.some((f) => f.workflowId === hold.workflowId);
      if (!b || b.outcome || failed || (isTerminal(b.status) && b.status !== 'failed'))
        done.push({ hold, batch: b });
    }
    return done;
  }

  get cancel() {
    return this.view.cancel;
  }

  /** The first cancel request is recorded; later ones are counted. False for such a duplicate. */
  requestCancel(request: unknown, source: CancelSource): boolean {
    if (this.view.cancel) {
      this.view.cancel.duplicates += 1;
      return false;
    }
    this.view.cancel = newCancelRecord(request, source, this.view.phase === 'finished');
    this.refresh();
    return true;
  }

  /** Round `round + 1` starts with these chunks (a resubmission). */
  nextRound(chunks: SubmissionChunk[]): void {
    this.round += 1;
    this.queue = chunks.map((c, i) => ({
      chunk: { index: i, path: c.path, bytes: c.bytes, sha256: c.sha256 },
      inputFileId: null,
      ...(this.budget && c.tokens !== undefined ? { tokens: c.tokens } : {}),
    }));
  }

  /** Announced before its workflow starts, so reports find it; `started` makes it one of the batches. */
  announce(entry: SubmittedBatch): void {
    this.starting.set(entry.workflowId, entry);
  }

  notStarted(workflowId: string): void {
    this.starting.delete(workflowId);
  }

  started(entry: SubmittedBatch, chunkPath: string | null): void {
    this.starting.delete(entry.workflowId);
    this.view.batches.push(entry);
    if (chunkPath) this.chunkPaths.set(entry.workflowId, chunkPath);
    this.refresh();
  }

  find(workflowId: string): SubmittedBatch | undefined {
    return this.view.batches.find((b) => b.workflowId === workflowId) ?? this.starting.get(workflowId);
  }

  /**
   * A batch workflow's report. Reports from workflows this submission did not start (a terminated earlier run of
   * the same name had its own) are ignored. `acceptEnd`: whether the outcome or failure it may carry counts here
   * (runs started before batches reported them get them from the child's completion).
   */
  applyReport(p: ChildProgress, acceptEnd: boolean): void {
    const b = this.find(p.workflowId);
    if (!b || b.outcome) return;
    if (acceptEnd && p.outcome) {
      this.recordOutcome(p.workflowId, p.outcome);
      return;
    }
    if (acceptEnd && p.failure) {
      this.recordFailure(p.workflowId, p.failure.message, p.failure.type);
      return;
    }
    b.status = p.status;
    b.requestCounts = p.requestCounts;
    this.refresh();
  }

  /** Exactly once per batch: its report and its completion (same run) both bring it; the first one counts. */
  recordOutcome(workflowId: string, outcome: BatchOutcome): void {
    const b = this.find(workflowId);
    if (!b || b.outcome) return;
    b.outcome = outcome;
    b.status = outcome.status;
    b.requestCounts = outcome.snapshot.requestCounts;
    // An outcome is the truth even after a failure was assumed (a cancelled child's completion, say).
    const i = this.failures.findIndex((f) => f.workflowId === workflowId);
    if (i >= 0) this.failures.splice(i, 1);
    this.refresh();
  }

  recordFailure(workflowId: string | null, message: string, type: string | null): void {
    if (workflowId !== null) {
      const b = this.find(workflowId);
      if (!b || b.outcome || this.failures.some((f) => f.workflowId === workflowId)) return;
    }
    this.failures.push({ workflowId, message, type });
    this.refresh();
  }

  /** Batches still running: no outcome and not failed. */
  running(round?: number): SubmittedBatch[] {
    return this.view.batches.filter(
      (b) =>
        b.outcome === null &&
        (round === undefined || b.round === round) &&
        !this.failures.some((f) => f.workflowId === b.workflowId),
    );
  }

  batchesOf(round: number): SubmittedBatch[] {
    return this.view.batches.filter((b) => b.round === round).sort((a, b) => a.chunkIndex - b.chunkIndex);
  }

  closeRound(round: number): void {
    const done = this.batchesOf(round);
    this.rounds.push({
      round,
      batches: done.length,
      billing: done.reduce((acc, b) => (b.outcome ? addBilling(acc, b.outcome.billing) : acc), ZERO_BILLING),
    });
  }

  /** Wakes a workflow waiting for a change that shows in nothing else (a creation that found a cancel). */
  touch(): void {
    this.version += 1;
  }

  refresh(): void {
    this.view.progress = this.view.batches.reduce(
      (acc, b) => ({
        total: acc.total + b.requestCounts.total,
        completed: acc.completed + b.requestCounts.completed,
        failed: acc.failed + b.requestCounts.failed,
      }),
      { total: 0, completed: 0, failed: 0 },
    );
    this.version += 1;
    this.onChange(this);
  }

  /** The Web UI's current details (no history cost). */
  details(): string {
    const { total, completed, failed } = this.view.progress;
    const run = (this.view.run ?? 1) > 1 ? `, run ${this.view.run}` : '';
    return (
      `**${this.view.phase}**: ${this.view.batches.length} batch(es), ${completed + failed}/${total} done, ${failed} failed${run}` +
      budgetDetails(this.budget) +
      (this.view.cancel ? `\n\nCancel requested ${this.view.cancel.requestedAt}` : '')
    );
  }

  outcome(provider: string, lines: number): SubmitOutcome {
    // A batch re-created after `token_limit_exceeded` is replaced by its new batch: it never ran, never billed.
    const first = this.view.batches.filter((b) => b.round === 0 && !b.retried);
    const statuses = first.map((b) => b.outcome?.status);
    const status: SubmitOutcome['status'] = this.view.cancel
      ? 'cancelled'
      : statuses.every((s) => s === 'completed')
        ? 'completed'
        : statuses.every((s) => s === 'failed')
          ? 'failed'
          : 'partial';
    return {
      provider,
      status,
      lines,
      batches: this.view.batches,
      billing: this.rounds[0]?.billing ?? ZERO_BILLING,
      rounds: this.rounds,
      resultsDirs: this.view.batches.flatMap((b) => (b.outcome?.results ? [b.outcome.results.dir] : [])),
      cancel: this.view.cancel,
      runs: this.view.run ?? 1,
    };
  }
}

/** "queued for token budget: N tokens ahead", for the first waiting part (the Web UI's current details). */
export function budgetDetails(b: SubmitTokenBudgetView | null): string {
  if (!b || b.waiting.length === 0) return '';
  const first = b.waiting.reduce((a, w) => (w.tokensAhead < a.tokensAhead ? w : a));
  return (
    `\n\nqueued for token budget: ${first.tokensAhead} tokens ahead (${b.waiting.length} part(s) waiting, ` +
    `${b.model} limit ${b.limit}, estimated by ${b.method})`
  );
}

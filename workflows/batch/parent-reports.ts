// What a batch created by a submission tells that submission: its status changes and, last, its outcome.
import {
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { isTerminal, type BatchOutcome, type BatchSnapshot, type BatchWorkflowInput } from '../contract';
import type { BatchRef } from '../shared/activity-types';
import { childProgressSignal, type ChildProgress } from '../shared/child-progress';
import { nowSeconds } from '../shared/clock';
import type { CarriedState } from './carried-state';

/**
 * Progress to a parent submission, in runs started before PATCH_REPORT_OUTCOME_TO_PARENT: on every status change,
 * else at most hourly. Every report costs the parent ~4 history events, so these hourly reports made its history
 * grow with batches x window (~38 batches over 336 h reach Temporal's 51,200-event limit).
 */
const PARENT_PROGRESS_EVERY_SECONDS = 3600;

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

type Report = Pick<ChildProgress, 'status' | 'requestCounts' | 'outcome' | 'failure'>;

export class ParentReports {
  /**
   * Decided once per run: a run started before the patch keeps its hourly reports to the end, and its parent (also
   * older) gets the outcome from the child's completion. Tracked batches have no parent and need no marker.
   */
  readonly reportsOutcome: boolean;
  private lastSent: { status: BatchSnapshot['status']; at: number; done: number } | null;

  constructor(
    private readonly ref: BatchRef,
    private readonly parent: BatchWorkflowInput['parent'],
    carried: CarriedState | undefined,
  ) {
    this.reportsOutcome = parent ? patched(PATCH_REPORT_OUTCOME_TO_PARENT) : false;
    this.lastSent =
      this.reportsOutcome && carried?.parentReportedStatus
        ? { status: carried.parentReportedStatus, at: nowSeconds(), done: 0 }
        : null;
  }

  /** After every look at the batch: a status change goes out (older runs: hourly progress too). */
  async progress(snapshot: BatchSnapshot): Promise<void> {
    if (!this.parent) return;
    // The terminal status goes with the outcome, once results and billing are known.
    if (this.reportsOutcome && isTerminal(snapshot.status)) return;
    const done = snapshot.requestCounts.completed + snapshot.requestCounts.failed;
    const now = nowSeconds();
    const last = this.lastSent;
    const due =
      last === null ||
      last.status !== snapshot.status ||
      (!this.reportsOutcome && done !== last.done && now - last.at >= PARENT_PROGRESS_EVERY_SECONDS);
    if (!due) return;
    this.lastSent = { status: snapshot.status, at: now, done };
    await this.signal({ status: snapshot.status, requestCounts: snapshot.requestCounts });
  }

  /** The last report: the outcome, which a parent that continued as new has no other way to learn. */
  async outcome(outcome: BatchOutcome): Promise<void> {
    if (!this.reportsOutcome) return;
    await this.signal(
      { status: outcome.status, requestCounts: outcome.snapshot.requestCounts, outcome },
      LAST_REPORT_ATTEMPTS,
    );
  }

  /** The last report of a workflow that fails: a parent that continued as new would otherwise wait forever. */
  async failure(
    snapshot: BatchSnapshot | null,
    failure: { message: string; type: string | null },
  ): Promise<void> {
    await this.signal(
      {
        status: snapshot?.status ?? 'validating',
        requestCounts: snapshot?.requestCounts ?? { total: 0, completed: 0, failed: 0 },
        failure,
      },
      LAST_REPORT_ATTEMPTS,
    );
  }

  /** The next run does not report a status its parent already has. */
  carry(): Pick<CarriedState, 'parentReportedStatus'> {
    return this.reportsOutcome && this.lastSent ? { parentReportedStatus: this.lastSent.status } : {};
  }

  /** `attempts` > 1 for the last report, which the parent cannot do without (see LAST_REPORT_ATTEMPTS). */
  private async signal(report: Report, attempts = 1): Promise<void> {
    const parent = this.parent;
    if (!parent) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await getExternalWorkflowHandle(parent.workflowId).signal(childProgressSignal, {
          batchId: this.ref.batchId,
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
  }
}

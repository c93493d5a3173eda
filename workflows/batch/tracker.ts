// A tracked batch's state and its rules, apart from the workflow that drives it: no activities, timers or
// signals here, so every rule reads (and is tested through the workflow) without Temporal's machinery in the way.
import {
  isTerminal,
  type BatchOutcome,
  type BatchSnapshot,
  type BatchStatusView,
  type BillingTotals,
  type CancelRecord,
  type CancelSource,
  type PollPolicy,
  type ProviderAccessLoss,
  type ProviderCancelOutcome,
  type ProviderEvent,
  type ProviderEventsRecord,
  type ResultsRecord,
  type TerminalStatus,
  type WorkflowPhase,
} from '../contract';
import type { BatchRef } from '../shared/activity-types';
import { computeBilling } from '../shared/billing';
import { newCancelRecord } from '../shared/cancel-record';
import { nowSeconds } from '../shared/clock';
import { currentDetails } from '../shared/presentation';
import type { CarriedState, PollScheduleState } from './carried-state';
import { initialSchedule, learnFromSnapshot, nextWaitSeconds, pushedPolicy } from './poll-schedule';
import { searchAttributeValues, type SearchAttributeValues } from './search-attribute-values';

/** Webhook ids remembered for deduplication (providers redeliver the same event, in no guaranteed order). */
const RECENT_EVENT_IDS = 50;

export class BatchTracker {
  snapshot: BatchSnapshot | null;
  cancel: CancelRecord | null;
  /** The provider cancel call was made (once per batch, whatever the number of requests). */
  cancelSent: boolean;
  phase: WorkflowPhase;
  results: ResultsRecord | null = null;
  resultsError: string | null = null;
  /** Non-null while the provider refuses our key or profile: tracking is paused, not ended. */
  accessLost: ProviderAccessLoss | null;
  events: ProviderEventsRecord;
  /** A provider event arrived since the last call: look at the batch now. */
  eventPending = false;
  private schedule: PollScheduleState;
  private providerCalls: number;
  private polls: number;
  private readonly runs: number;
  private readonly startedAt: string;
  private lastPolledAt: string | null = null;
  private nextPollAt: string | null = null;
  private nextPollInSeconds: number | null = null;

  constructor(
    readonly ref: BatchRef,
    private readonly policy: PollPolicy,
    carried: CarriedState | undefined,
    /** Shows the state where people look (Web UI, search attributes); called after each change worth showing. */
    private readonly show: (batch: BatchTracker) => void = () => undefined,
  ) {
    this.snapshot = carried?.snapshot ?? null;
    this.cancel = carried?.cancel ?? null;
    this.cancelSent = carried?.cancelSent ?? false;
    this.schedule = carried?.schedule ?? initialSchedule(policy);
    this.providerCalls = carried?.providerCalls ?? 0;
    this.polls = carried?.polls ?? 0;
    this.runs = (carried?.runs ?? 0) + 1;
    this.startedAt = carried?.startedAt ?? new Date().toISOString();
    this.phase = carried?.cancelSent ? 'cancelling' : 'tracking';
    this.accessLost = carried?.accessLost ?? null;
    this.events = carried?.events ?? { received: 0, duplicates: 0, late: 0, last: null, recentIds: [] };
  }

  get terminal(): boolean {
    return this.snapshot !== null && isTerminal(this.snapshot.status);
  }

  /** A cancel was asked for, the batch was not terminal then, and the provider has not been called yet. */
  get cancelPending(): boolean {
    return this.cancel !== null && !this.cancel.tooLate && !this.cancelSent;
  }

  /** Pushed (webhooks on the worker's profile): polls are a sparse safety net. */
  pollPolicy(): PollPolicy {
    return this.snapshot?.pushed ? pushedPolicy(this.policy) : this.policy;
  }

  publish(): void {
    this.show(this);
  }

  /** The `cancel` signal: recorded (sent with the next look) and shown at once. */
  cancelSignalled(request: unknown): void {
    this.requestCancel(request, 'signal');
    this.publish();
  }

  /** The `providerEvent` signal: a new event ends the wait and is shown; a redelivery changes nothing. */
  eventSignalled(event: ProviderEvent | undefined): void {
    if (this.receiveEvent(event)) this.publish();
  }

  /** The first request is the one sent; later ones are counted, never sent again. */
  requestCancel(request: unknown, source: CancelSource): void {
    if (this.cancel) {
      this.cancel.duplicates += 1;
      return;
    }
    this.cancel = newCancelRecord(request, source, this.terminal);
  }

  /**
   * A provider webhook: a hint, never the truth (the batch is retrieved at once and follows its normal path).
   * False when it changes nothing: malformed, or a redelivery.
   */
  receiveEvent(event: ProviderEvent | undefined): boolean {
    if (!event || typeof event.webhookId !== 'string' || typeof event.type !== 'string') return false;
    const events = this.events;
    if (events.recentIds.includes(event.webhookId)) {
      events.duplicates += 1;
      return false;
    }
    events.recentIds = [...events.recentIds, event.webhookId].slice(-RECENT_EVENT_IDS);
    events.received += 1;
    events.last = {
      type: event.type,
      webhookId: event.webhookId,
      createdAt: typeof event.createdAt === 'number' ? event.createdAt : 0,
      receivedAt: new Date().toISOString(),
    };
    if (this.terminal) events.late += 1;
    else this.eventPending = true;
    return true;
  }

  /** The provider cancel call is about to be made. */
  cancelling(): void {
    this.phase = 'cancelling';
  }

  cancelCalled(outcome: ProviderCancelOutcome): void {
    this.providerCalls += 1;
    this.cancelSent = true;
    if (this.cancel) {
      this.cancel.providerCalledAt = new Date().toISOString();
      this.cancel.providerOutcome = outcome;
    }
  }

  polled(): void {
    this.providerCalls += 1;
    this.polls += 1;
  }

  /** What the provider answered (a retrieve or a cancel): the schedule learns the progress rate from it. */
  apply(snapshot: BatchSnapshot): void {
    this.snapshot = snapshot;
    this.schedule = learnFromSnapshot(this.schedule, snapshot, nowSeconds(), this.pollPolicy());
    this.lastPolledAt = new Date().toISOString();
  }

  accessDenied(type: string, message: string): void {
    this.providerCalls += 1;
    this.accessLost = {
      since: this.accessLost?.since ?? new Date().toISOString(),
      type,
      message,
      attempts: (this.accessLost?.attempts ?? 0) + 1,
    };
  }

  /** True when a refused stretch just ended. */
  accessRestored(): boolean {
    if (!this.accessLost) return false;
    this.accessLost = null;
    return true;
  }

  /** The wait before the next poll, by the adaptive schedule (a cancel sent: the fast follow-up). */
  nextWaitSeconds(): number {
    return nextWaitSeconds(
      this.schedule,
      this.snapshot as BatchSnapshot,
      nowSeconds(),
      this.pollPolicy(),
      this.cancelSent,
    );
  }

  /** The wait that starts now (null: it ended), for status and the Web UI. */
  waiting(seconds: number | null): void {
    this.nextPollAt = seconds === null ? null : new Date(Date.now() + seconds * 1000).toISOString();
    this.nextPollInSeconds = seconds;
  }

  /** Tracking ended: a cancel that arrived while the last poll was finding the batch terminal was never sent. */
  trackingEnded(): void {
    if (this.cancel && !this.cancelSent) this.cancel.tooLate = true;
  }

  /** After the results are downloaded their summed tokens (DashScope has no usage) and cross-check count too. */
  billing(): BillingTotals | null {
    return this.snapshot && this.terminal
      ? computeBilling(this.snapshot, this.results?.tokens ?? null, this.results)
      : null;
  }

  view(): BatchStatusView {
    return {
      batchId: this.ref.batchId,
      provider: this.ref.provider,
      phase: this.phase,
      snapshot: this.snapshot,
      cancel: this.cancel,
      billing: this.billing(),
      polls: this.polls,
      providerCalls: this.providerCalls,
      lastPolledAt: this.lastPolledAt,
      nextPollAt: this.nextPollAt,
      startedAt: this.startedAt,
      run: this.runs,
      pollPolicy: this.pollPolicy(),
      results: this.results,
      resultsError: this.resultsError,
      accessLost: this.accessLost,
      events: this.events,
    };
  }

  /** The Web UI's current-details markdown. */
  details(): string {
    return currentDetails({
      batchId: this.ref.batchId,
      provider: this.ref.provider,
      snapshot: this.snapshot,
      cancel: this.cancel,
      billing: this.billing(),
      nextPollInSeconds: this.nextPollInSeconds,
      polls: this.polls,
      run: this.runs,
      accessLost: this.accessLost,
      events: this.events,
    });
  }

  searchAttributes(): SearchAttributeValues {
    return searchAttributeValues(this.ref.batchId, this.ref.provider, this.snapshot, this.cancel);
  }

  /** The state the next run starts from (continue-as-new). Optional fields only when set: older shapes stay. */
  carry(): CarriedState {
    return {
      snapshot: this.snapshot,
      cancel: this.cancel,
      cancelSent: this.cancelSent,
      schedule: this.schedule,
      providerCalls: this.providerCalls,
      polls: this.polls,
      runs: this.runs,
      startedAt: this.startedAt,
      ...(this.accessLost ? { accessLost: this.accessLost } : {}),
      ...(this.events.received + this.events.duplicates > 0 ? { events: this.events } : {}),
    };
  }

  /** When the terminal status was seen, for the poll-lateness metric. */
  sighting(): { lastPolledAt: string | null; startedAt: string } {
    return { lastPolledAt: this.lastPolledAt, startedAt: this.startedAt };
  }

  /** The workflow's result, once the batch is terminal. */
  outcome(): BatchOutcome {
    const snapshot = this.snapshot as BatchSnapshot;
    return {
      batchId: this.ref.batchId,
      provider: this.ref.provider,
      status: snapshot.status as TerminalStatus,
      billing: computeBilling(snapshot, this.results?.tokens ?? null, this.results),
      errors: snapshot.errors,
      cancel: this.cancel,
      snapshot,
      providerCalls: this.providerCalls,
      runs: this.runs,
      results: this.results,
      resultsError: this.resultsError,
    };
  }
}

// A fleet poller's state and rules: the batches it holds, its counters, what people see of it. No activities,
// timers or signals here; the workflow in fleet-poller.ts drives it.
import {
  BATCH_STATUSES,
  batchWorkflowId,
  isTerminal,
  type BatchStatus,
  type FleetEntry,
  type FleetRegistration,
  type FleetStatusView,
  type SweepResult,
} from '../contract';
import { nowSeconds } from '../shared/clock';
import type { FleetCarriedState } from './carried-state';

/**
 * Registered batches at most. The set travels through continue-as-new as one payload (~110 bytes a batch, under
 * Temporal's 2 MB limit with room to spare); a batch refused here simply polls on its own.
 */
export const MAX_FLEET_ENTRIES = 12_000;
/** Statuses that last seconds to minutes: a batch in one of them is worth an early sweep. */
const SHORT_PHASES: readonly BatchStatus[] = ['validating', 'finalizing', 'cancelling'];

export class FleetState {
  readonly entries: Map<string, FleetEntry>;
  readonly counters: { runs: number; sweeps: number; listCalls: number; signals: number };
  lastSweep: SweepResult | null = null;
  sweepFailures = 0;
  /** Unix seconds of the next sweep; null while nothing is registered. */
  nextSweepAt: number | null = null;
  /** A batch registered in a short phase while the poller slept long: sweep sooner. */
  hurry = false;

  constructor(
    readonly provider: string,
    carried: FleetCarriedState | undefined,
    /** Shows the state where people look (the Web UI's current details). */
    private readonly show: (details: string) => void = () => undefined,
  ) {
    this.entries = new Map((carried?.entries ?? []).map((e) => [e.batchId, e]));
    this.counters = {
      runs: (carried?.runs ?? 0) + 1,
      sweeps: carried?.sweeps ?? 0,
      listCalls: carried?.listCalls ?? 0,
      signals: carried?.signals ?? 0,
    };
  }

  get size(): number {
    return this.entries.size;
  }

  publish(): void {
    const { counters, lastSweep } = this;
    this.show(
      `**${this.entries.size}** batches registered on \`${this.provider}\` · run ${counters.runs} · ` +
        `${counters.sweeps} sweeps, ${counters.listCalls} list calls, ${counters.signals} signals` +
        (lastSweep
          ? ` · last sweep: ${lastSweep.pages} pages, ${lastSweep.found} found, ${lastSweep.missing} missing`
          : '') +
        (this.sweepFailures > 0 ? ` · ${this.sweepFailures} failed sweeps` : ''),
    );
  }

  /** The `fleetRegister` signal: new batches join the set (bounded); repeats change nothing. */
  register(registrations: FleetRegistration[] | FleetRegistration): void {
    for (const registration of Array.isArray(registrations) ? registrations : [registrations]) {
      const entry = toEntry(registration);
      if (!entry) continue;
      const known = this.entries.get(entry.batchId);
      if (known) {
        // A batch workflow that continued as new or was restarted registers again: keep what it was told.
        known.createdAt ??= entry.createdAt;
        continue;
      }
      if (this.entries.size >= MAX_FLEET_ENTRIES) break;
      this.entries.set(entry.batchId, entry);
      if (SHORT_PHASES.includes(entry.status)) this.hurry = true;
    }
    this.publish();
  }

  /** The `fleetUnregister` signal: a batch that finished on its own is no longer swept for. */
  unregister(message: { batchId: string } | undefined): void {
    if (message && typeof message.batchId === 'string' && this.entries.delete(message.batchId))
      this.publish();
  }

  list(): FleetEntry[] {
    return [...this.entries.values()];
  }

  view(): FleetStatusView {
    const byStatus: Partial<Record<BatchStatus, number>> = {};
    for (const e of this.entries.values()) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
    return {
      provider: this.provider,
      registered: this.entries.size,
      byStatus,
      run: this.counters.runs,
      sweeps: this.counters.sweeps,
      listCalls: this.counters.listCalls,
      signals: this.counters.signals,
      lastSweep: this.lastSweep,
      nextSweepInSeconds: this.nextSweepAt === null ? null : Math.max(0, this.nextSweepAt - nowSeconds()),
    };
  }

  /** What a sweep did: counted, and each batch it told is recorded as told (or dropped, when terminal or gone). */
  applySweep(result: SweepResult): void {
    this.lastSweep = result;
    this.counters.sweeps += 1;
    this.counters.listCalls += result.pages;
    this.counters.signals += result.signalled.length;
    for (const [batchId, status, done] of result.signalled) {
      const entry = this.entries.get(batchId);
      if (!entry) continue;
      // Told its terminal status, the batch workflow confirms it with one retrieve and finishes on its own.
      if (isTerminal(status)) this.entries.delete(batchId);
      else Object.assign(entry, { status, done, signalledAt: result.at });
    }
    for (const batchId of result.gone) this.entries.delete(batchId);
  }

  /**
   * A provider that refuses the list (no list, wrong key): the batches poll on their own once the fleet is
   * silent; the poller tries again at its longest interval.
   */
  sweepFailed(): void {
    this.sweepFailures += 1;
    this.lastSweep = null;
  }

  carry(): FleetCarriedState {
    return { entries: this.list(), ...this.counters };
  }
}

function toEntry(r: FleetRegistration): FleetEntry | null {
  if (!r || typeof r.batchId !== 'string' || r.batchId === '') return null;
  if (!(BATCH_STATUSES as readonly string[]).includes(r.status) || isTerminal(r.status)) return null;
  const entry: FleetEntry = {
    batchId: r.batchId,
    createdAt: typeof r.createdAt === 'number' && r.createdAt > 0 ? r.createdAt : null,
    status: r.status,
    done: typeof r.done === 'number' && r.done >= 0 ? r.done : 0,
    // Never told yet: the first sweep that finds it says so, and the batch workflow knows the fleet sees it.
    signalledAt: 0,
  };
  if (
    typeof r.workflowId === 'string' &&
    r.workflowId !== '' &&
    r.workflowId !== batchWorkflowId(r.batchId)
  ) {
    entry.workflowId = r.workflowId;
  }
  return entry;
}

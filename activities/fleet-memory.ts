// What a worker process remembers of a provider's batch list between sweeps, so that most sweeps fetch only the
// pages holding batches about to change (cursor `after=<the id listed just before it>`) instead of every page.
// It is an optimization only: a cold memory (a restart, a sweep landing on another worker) means a full walk, which
// rebuilds it; correctness never depends on it (every registered batch is on a full walk at least every
// `fullSweepEverySeconds`, and a batch workflow the fleet falls silent on polls on its own).
import type { FleetEntry } from '../workflows/fleet-types';
import { isTerminal, type BatchSnapshot, type BatchStatus } from '../workflows/messages';

/** Look a little after the predicted finish, so the provider has flipped the status when we do. */
const AIM_MARGIN_SECONDS = 5;
/**
 * Phases whose length the provider's recent batches teach (they carry no progress to predict from): a finalizing
 * batch is looked at when finalizing usually ends, instead of at a backoff from 20 s (7 looks for a 5 min one).
 */
const LEARNED_PHASES: readonly BatchStatus[] = ['validating', 'finalizing', 'cancelling'];
/** Lengths kept a phase, and how many before they are trusted. */
const PHASE_SAMPLES = 25;
const PHASE_MIN_SAMPLES = 3;
/**
 * The look aims a little before the typical length, so the estimate can shrink as well as grow: a phase over by
 * then teaches a shorter length, one still running is looked at again at the backoff and teaches a longer one.
 */
const PHASE_AIM = 0.9;

/** The last sighting of a registered batch (worker clock). */
export interface Sighting {
  status: BatchStatus;
  /** First sighting in this status, and the done requests then: the progress rate's base. */
  since: number;
  doneSince: number;
  at: number;
  done: number;
  total: number;
}

export interface Cadence {
  /** The poller's shortest interval: batches in short phases are looked at this often. */
  minIntervalSeconds: number;
  /** Every registered batch is on a full walk at least this often. */
  fullSweepEverySeconds: number;
}

export class SweepMemory {
  /** Worker time of the last full walk; null: none yet (cold), the next sweep walks every page. */
  lastFullAt: number | null = null;
  /** Position of each id in the provider's list (newest first) at the last full walk, and the ids by position. */
  private position = new Map<string, number>();
  private ids: string[] = [];
  private readonly sightings = new Map<string, Sighting>();
  private readonly phaseLengths = new Map<BatchStatus, number[]>();

  /** Starts a full walk: the list order is learned anew, batches no longer registered are forgotten. */
  beginFullWalk(registered: ReadonlySet<string>): void {
    this.position = new Map();
    this.ids = [];
    for (const id of this.sightings.keys()) if (!registered.has(id)) this.sightings.delete(id);
  }

  listedInFullWalk(id: string): void {
    if (this.position.has(id)) return;
    this.position.set(id, this.ids.length);
    this.ids.push(id);
  }

  endFullWalk(at: number): void {
    this.lastFullAt = at;
  }

  /** Forget the list order (a cursor the provider refused): the next sweep walks every page. */
  invalidate(): void {
    this.lastFullAt = null;
  }

  /** The cursor that makes a page start at this batch; undefined when its place is unknown (newer than the walk). */
  cursorFor(batchId: string): string | null | undefined {
    const pos = this.position.get(batchId);
    if (pos === undefined) return undefined;
    return pos === 0 ? null : this.ids[pos - 1];
  }

  placeOf(batchId: string): number {
    return this.position.get(batchId) ?? -1;
  }

  /** Number of ids the last full walk listed (its pages = this / 100, rounded up). */
  get listed(): number {
    return this.ids.length;
  }

  /**
   * Records a sighting. A batch first seen here in the status its workflow was last told (`told`) has been in it
   * since then at least: its backoff and progress rate start there, not at this sighting.
   */
  see(snapshot: BatchSnapshot, at: number, told?: FleetEntry): void {
    const done = snapshot.requestCounts.completed + snapshot.requestCounts.failed;
    const prev = this.sightings.get(snapshot.id);
    if (prev && prev.status !== snapshot.status && LEARNED_PHASES.includes(prev.status)) {
      this.learnPhase(prev.status, at - prev.since);
    }
    if (!prev || prev.status !== snapshot.status || done < prev.done) {
      const known =
        !prev && told && told.status === snapshot.status && told.signalledAt > 0 && told.done <= done;
      this.sightings.set(snapshot.id, {
        status: snapshot.status,
        since: known ? Math.min(at, told.signalledAt) : at,
        doneSince: known ? told.done : done,
        at,
        done,
        total: snapshot.requestCounts.total,
      });
      return;
    }
    prev.at = at;
    prev.done = done;
    prev.total = snapshot.requestCounts.total;
  }

  /**
   * When this batch is next worth a look (worker clock): now if never seen; at the finish its progress rate
   * predicts, once it progresses; otherwise after half the time it has spent in its status (per-batch polling's
   * x1.5 backoff), between the poller's shortest interval and the full walk's. A short phase (validating,
   * finalizing, cancelling) is first looked at when that phase usually ends on this provider, once a few were
   * seen; until then, and after that look, at the backoff: a long finalizing is not looked at every 20 s.
   */
  nextLookAt(entry: FleetEntry, cadence: Cadence): number {
    const s = this.sightings.get(entry.batchId);
    if (!s) return 0;
    if (isTerminal(s.status)) return 0;
    const { minIntervalSeconds: min, fullSweepEverySeconds: full } = cadence;
    if (s.status === 'in_progress' && s.done > s.doneSince && s.at > s.since) {
      // Progressing: looked at when it should finish (the full walks cover an end nobody predicted).
      const rate = (s.done - s.doneSince) / (s.at - s.since);
      const finish = s.at + Math.max(0, s.total - s.done) / rate + AIM_MARGIN_SECONDS;
      return Math.min(s.at + full, Math.max(finish, s.at + min));
    }
    const typical = this.typicalLength(s.status);
    if (typical !== null) {
      const aim = s.since + PHASE_AIM * typical;
      if (s.at < aim) return Math.min(s.at + full, Math.max(aim, s.at + min));
      // Past the aim and still in the phase: it ends any moment, so every shortest interval until twice its usual
      // length (a backoff here would see it late and teach a longer length each time).
      if (s.at < s.since + 2 * typical) return s.at + min;
    }
    return s.at + Math.min(full, Math.max(min, (s.at - s.since) / 2));
  }

  /** The median of this phase's recent lengths on this provider; null until a few were seen. */
  typicalLength(status: BatchStatus): number | null {
    const lengths = this.phaseLengths.get(status);
    if (!lengths || lengths.length < PHASE_MIN_SAMPLES) return null;
    const sorted = [...lengths].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  private learnPhase(status: BatchStatus, seconds: number): void {
    if (!(seconds > 0)) return;
    const lengths = this.phaseLengths.get(status) ?? [];
    lengths.push(seconds);
    if (lengths.length > PHASE_SAMPLES) lengths.shift();
    this.phaseLengths.set(status, lengths);
  }
}

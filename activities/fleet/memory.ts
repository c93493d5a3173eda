// What a worker process remembers of a provider's batch list between sweeps, so that most sweeps fetch only the
// pages holding batches about to change (cursor `after=<the id listed just before it>`) instead of every page.
// It is an optimization only: a cold memory (a restart, a sweep landing on another worker) means a full walk, which
// rebuilds it; correctness never depends on it (every registered batch is on a full walk at least every
// `fullSweepEverySeconds`, and a batch workflow the fleet falls silent on polls on its own).
import {
  isTerminal,
  type BatchSnapshot,
  type BatchStatus,
  type BatchTimestamps,
  type FleetEntry,
} from '../../workflows/contract';

/** Look a little after the predicted finish, so the provider has flipped the status when we do. */
const AIM_MARGIN_SECONDS = 5;
/**
 * Phases whose length the provider's recent batches teach (they carry no progress to predict from), and the
 * statuses each ends in when it runs its course (a validating batch cancelled teaches nothing): a finalizing batch
 * is looked at when finalizing usually ends, instead of at a backoff from 20 s (7 looks for a 5 min one).
 */
const PHASE_ENDS: Partial<Record<BatchStatus, readonly BatchStatus[]>> = {
  validating: ['in_progress', 'finalizing', 'completed'],
  finalizing: ['completed'],
  cancelling: ['cancelled'],
};
/** Where the provider's timestamps put a learned phase's start and end. */
const PHASE_TIMESTAMPS: Partial<Record<BatchStatus, [keyof BatchTimestamps, keyof BatchTimestamps]>> = {
  validating: ['createdAt', 'inProgressAt'],
  finalizing: ['finalizingAt', 'completedAt'],
  cancelling: ['cancellingAt', 'cancelledAt'],
};
/**
 * How far the provider's clock may be from the worker's for its timestamps to be believed. A provider whose
 * timestamps do not fit the sightings (a fast emulator clock, timestamps of 0) is learned from sightings only.
 */
const CLOCK_SKEW_SECONDS = 30;
/** Lengths kept a phase, and how many before they are trusted. */
const PHASE_SAMPLES = 25;
const PHASE_MIN_SAMPLES = 3;
/**
 * A length learned from sightings is longer than the phase by up to the gap between looks, and only phases that
 * outlast the look teach anything. So the look aims a little before it, and the estimate can shrink as well as
 * grow: a phase over by then teaches a shorter length, one still running a longer one.
 */
const PHASE_AIM = 0.9;
/**
 * Lengths from the provider's timestamps are exact: the look aims at their lower quartile (the quicker quarter is
 * seen a little late, the rest on time, at the cost of a look more for each of them).
 */
const EXACT_QUANTILE = 0.25;

interface PhaseLengths {
  /** From the provider's timestamps, when they agree with the worker's clock. */
  exact: number[];
  /** From sightings: first sighting in the phase to the first one past it. */
  sighted: number[];
}

/** The last sighting of a registered batch (worker clock). */
export interface Sighting {
  status: BatchStatus;
  /** First sighting in this status, and the done requests then: the progress rate's base. */
  since: number;
  doneSince: number;
  at: number;
  done: number;
  total: number;
  /** In progress: when its progress rate says it runs out of requests (the look then waits for its finalizing). */
  runEnd?: number;
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
  private readonly phaseLengths = new Map<BatchStatus, PhaseLengths>();
  /** By phase, from phaseLengths: its median and when its first look is due after it starts. */
  private readonly estimates = new Map<BatchStatus, { median: number; aim: number }>();

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
    if (prev && prev.status !== snapshot.status) this.learnFrom(prev, snapshot, at);
    if (!prev || prev.status !== snapshot.status || done < prev.done) {
      const known =
        !prev && told && told.status === snapshot.status && told.signalledAt > 0 && told.done <= done;
      let since = known ? Math.min(at, told.signalledAt) : at;
      // Looked at past its predicted run end, it is found finalizing: that phase began about then, not now.
      if (prev?.runEnd !== undefined && snapshot.status === 'finalizing') {
        since = Math.min(at, Math.max(prev.at, prev.runEnd));
      }
      const [startField] = PHASE_TIMESTAMPS[snapshot.status] ?? [];
      const start = startField ? snapshot.timestamps[startField] : null;
      if (start && believable(start, prev?.at ?? null, at)) since = start;
      this.sightings.set(snapshot.id, {
        status: snapshot.status,
        since,
        doneSince: known ? told.done : done,
        at,
        done,
        total: snapshot.requestCounts.total,
      });
      this.predictRunEnd(this.sightings.get(snapshot.id) as Sighting);
      return;
    }
    prev.at = at;
    prev.done = done;
    prev.total = snapshot.requestCounts.total;
    this.predictRunEnd(prev);
  }

  /**
   * Learns the length of the phase that ended between two sightings: the phase it was in, or a finalizing that no
   * look saw (in progress, then completed). Exact from the provider's timestamps when they fit the sightings; from
   * the sightings otherwise (for a skipped finalizing, the time since the predicted run end: an upper bound, which
   * keeps the estimate from only growing).
   */
  private learnFrom(prev: Sighting, snapshot: BatchSnapshot, at: number): void {
    const phase = PHASE_ENDS[prev.status]
      ? prev.status
      : prev.status === 'in_progress' && snapshot.status === 'completed'
        ? 'finalizing'
        : null;
    if (phase === null || !PHASE_ENDS[phase]?.includes(snapshot.status)) return;
    const [startField, endField] = PHASE_TIMESTAMPS[phase] ?? [];
    const start = startField ? snapshot.timestamps[startField] : null;
    const end = endField ? snapshot.timestamps[endField] : null;
    if (start && end && end >= start && believable(end, prev.at, at)) {
      this.learnPhase(phase, 'exact', end - start);
    } else if (phase === prev.status) {
      this.learnPhase(phase, 'sighted', at - prev.since);
    } else if (prev.runEnd !== undefined) {
      this.learnPhase(phase, 'sighted', at - prev.runEnd);
    }
  }

  /** The run's end its progress rate predicts (worker clock), for a batch in progress that has progressed. */
  private predictRunEnd(s: Sighting): void {
    s.runEnd = undefined;
    if (s.status !== 'in_progress' || !(s.done > s.doneSince) || !(s.at > s.since)) return;
    const rate = (s.done - s.doneSince) / (s.at - s.since);
    s.runEnd = s.at + Math.max(0, s.total - s.done) / rate;
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
    if (s.runEnd !== undefined) {
      // Progressing: looked at when it should be done, its finalizing included once that phase's usual length is
      // known (one look then sees it completed, instead of one seeing it finalizing and more until it is done).
      // The full walks cover an end nobody predicted.
      const finish = s.runEnd + (this.phaseAim('finalizing') ?? AIM_MARGIN_SECONDS);
      return Math.min(s.at + full, Math.max(finish, s.at + min));
    }
    const typical = this.typicalLength(s.status);
    const aimAfter = this.phaseAim(s.status);
    if (typical !== null && aimAfter !== null) {
      const aim = s.since + aimAfter;
      if (s.at < aim) return Math.min(s.at + full, Math.max(aim, s.at + min));
      // Past the aim and still in the phase: it ends any moment, so every shortest interval until twice its usual
      // length (a backoff here would see it late and teach a longer length each time).
      if (s.at < s.since + 2 * typical) return s.at + min;
    }
    return s.at + Math.min(full, Math.max(min, (s.at - s.since) / 2));
  }

  /**
   * The median of this phase's recent lengths on this provider (exact ones when there are enough); null until a
   * few were seen.
   */
  typicalLength(status: BatchStatus): number | null {
    return this.estimates.get(status)?.median ?? null;
  }

  /** How long after a phase starts its first look is due: see PHASE_AIM and EXACT_QUANTILE (plus the margin). */
  private phaseAim(status: BatchStatus): number | null {
    return this.estimates.get(status)?.aim ?? null;
  }

  /** Records a length and works out the phase's estimate anew (once per length, not once per look). */
  private learnPhase(status: BatchStatus, kind: keyof PhaseLengths, seconds: number): void {
    if (!(seconds > 0)) return;
    let lengths = this.phaseLengths.get(status);
    if (!lengths) this.phaseLengths.set(status, (lengths = { exact: [], sighted: [] }));
    lengths[kind].push(seconds);
    if (lengths[kind].length > PHASE_SAMPLES) lengths[kind].shift();
    const exact = lengths.exact.length >= PHASE_MIN_SAMPLES;
    const samples = exact ? lengths.exact : lengths.sighted;
    if (samples.length < PHASE_MIN_SAMPLES) return;
    const median = quantile(samples, 0.5);
    this.estimates.set(status, {
      median,
      aim: exact ? quantile(samples, EXACT_QUANTILE) + AIM_MARGIN_SECONDS : PHASE_AIM * median,
    });
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * A provider timestamp fits the worker's clock: not after the sighting that shows it (`at`), not before the last
 * sighting of the batch before it (`after`), within the allowed skew.
 */
function believable(timestamp: number, after: number | null, at: number): boolean {
  return timestamp <= at + CLOCK_SKEW_SECONDS && (after === null || timestamp >= after - CLOCK_SKEW_SECONDS);
}

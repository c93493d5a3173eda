// The fleet poller's contract (`fleetPoller`, one per provider profile and task queue): one poller lists the
// provider's batches (100 a call) and tells each batch workflow what changed, instead of every batch retrieving
// itself. Its id, input, the signals batch workflows and sweeps exchange with it, its queries.
import type { BatchSnapshot, BatchStatus } from './batch';
import { query, signal } from './definitions';

export const FLEET_WORKFLOW_TYPE = 'fleetPoller';

/**
 * One poller per profile and task queue (`batchkeeper-fleet-openai` on the default queue): the fixed id is what
 * keeps it single across any number of workers. The queue is part of it because the poller runs there: a
 * deployment on another queue (or a test) gets its own, instead of one stuck on a queue nobody polls.
 */
export function fleetWorkflowId(workflowTaskQueue: string, provider: string): string {
  return `${workflowTaskQueue}-fleet-${provider}`;
}

/** What a batch workflow tells the poller once it has seen its batch (sent by the `registerWithFleet` activity). */
export interface FleetRegistration {
  batchId: string;
  /** The batch workflow's id; `batch-<batchId>` when absent. */
  workflowId?: string;
  /** The batch's `created_at` (unix seconds), null when the provider does not give one: the sweep then walks on. */
  createdAt: number | null;
  status: BatchStatus;
  /** Done requests (completed + failed) at registration. */
  done: number;
}

/** One batch the poller watches. Compact on purpose: the set is carried through continue-as-new. */
export interface FleetEntry {
  batchId: string;
  /** Absent when it is `batch-<batchId>` (every batchkeeper workflow today): saves ~40 bytes a batch. */
  workflowId?: string;
  createdAt: number | null;
  /** The last status the batch workflow was told (or registered with). */
  status: BatchStatus;
  /** Done requests at that time. */
  done: number;
  /** Unix seconds of the last snapshot signalled to the batch workflow; 0 until the first (sent at once). */
  signalledAt: number;
}

/** A provider batch as a sweep saw it, sent to its workflow: applied like a poll result, without a provider call. */
export interface FleetObservation {
  snapshot: BatchSnapshot;
  /** Unix seconds (worker clock) of the list call that returned it. */
  seenAt: number;
  /** The list page it was found on (1 = newest): for status and diagnosis. */
  page: number;
  /** The poller's heartbeat (progressEverySeconds): silence much longer than this means it lost the batch. */
  everySeconds?: number;
}

export interface FleetPolicy {
  /** Shortest wait between two sweeps: when a batch is in a short phase or expected to finish. */
  minIntervalSeconds: number;
  /** Longest wait between two sweeps while batches are registered and nothing is expected soon. */
  maxIntervalSeconds: number;
  /**
   * A batch whose status did not change is told its progress at most this often. It is also the fleet's
   * heartbeat: a batch workflow that heard nothing for about twice this long polls on its own again.
   */
  progressEverySeconds: number;
  /** List calls in one sweep at most (100 batches each). */
  maxPagesPerSweep: number;
  /**
   * Every registered batch is on a full walk of the list at least this often; between full walks a sweep fetches
   * only the pages of batches due for a look (in a short phase, near their predicted finish, or looked at long
   * enough ago). A batch whose end nobody predicted is seen at most this late. At most progressEverySeconds.
   */
  fullSweepEverySeconds: number;
}

export const DEFAULT_FLEET_POLICY: FleetPolicy = {
  minIntervalSeconds: 20,
  maxIntervalSeconds: 120,
  progressEverySeconds: 1800,
  maxPagesPerSweep: 200,
  fullSweepEverySeconds: 900,
};

export interface FleetPollerInput {
  provider: string;
  policy?: Partial<FleetPolicy>;
}

/** What a sweep did, small whatever the fleet's size: only the batches it signalled are listed. */
export interface SweepResult {
  /** Unix seconds at the start of the sweep. */
  at: number;
  pages: number;
  /** Batches on those pages, registered or not. */
  listed: number;
  /** Registered batches in flight found on the pages. */
  found: number;
  /** Registered batches the walk did not reach or the provider did not list: they poll on their own. */
  missing: number;
  /**
   * A full walk's end: past the oldest registered batch, the end of the list, or the page cap; `targeted`: only
   * the pages of batches due for a look (found/missing count those); `nothing-due`: no call at all.
   */
  stoppedBy: 'oldest' | 'end' | 'cap' | 'empty' | 'targeted' | 'nothing-due';
  /** Signalled batches: [batchId, status, done]; the poller records them as told at `at`. */
  signalled: [string, BatchStatus, number][];
  /** Registered batches whose workflow is gone (closed or never there): the poller forgets them. */
  gone: string[];
  /** Seconds until the next expected change among the batches found (0: one is in a short phase), null: none. */
  nextChangeSeconds: number | null;
}

export interface FleetStatusView {
  provider: string;
  registered: number;
  byStatus: Partial<Record<BatchStatus, number>>;
  run: number;
  sweeps: number;
  listCalls: number;
  signals: number;
  lastSweep: SweepResult | null;
  nextSweepInSeconds: number | null;
}

/** Batches to track, many a signal (registrations are coalesced per worker process: activities/fleet/registrations.ts). */
export const fleetRegisterSignal = signal<[FleetRegistration[]]>('fleetRegister');
/** From a batch workflow that finished without the fleet telling it (its own poll saw the end): forget it. */
export const fleetUnregisterSignal = signal<[{ batchId: string }]>('fleetUnregister');
/** To a batch workflow: its batch as the sweep saw it. */
export const fleetSnapshotSignal = signal<[FleetObservation]>('fleetSnapshot');
/** The registered set, read by the sweep activity (a query costs no history). */
export const fleetEntriesQuery = query<FleetEntry[]>('fleetEntries');
export const fleetStatusQuery = query<FleetStatusView>('status');

/** What the Web UI shows next to each handler of a fleet poller. */
export const FLEET_HANDLER_DESCRIPTIONS = {
  register:
    'Batch workflows ask to be tracked by this poller (sent by registerWithFleet activities, coalesced per ' +
    'worker, with signal-with-start). Payload [{batchId, workflowId?, createdAt, status, done}]; repeats ' +
    'change nothing.',
  unregister: 'A registered batch finished on its own: it is no longer swept for. Payload {batchId}.',
  entries: 'The registered batches, read by each sweep (a query costs no history).',
  status: 'Registered batches by status, sweeps and calls so far, the last sweep, the next one.',
} as const;

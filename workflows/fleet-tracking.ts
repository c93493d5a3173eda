// A batch workflow's side of fleet polling: it registers with its profile's poller after the first successful look,
// takes the poller's snapshots as poll results (no provider call), and while the fleet keeps reporting it polls on
// its own only as a safety net. A terminal snapshot is not believed as such: one retrieve confirms it first.
import {
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { CALL_OPTIONS } from './activity-options';
import type { BatchActivities, BatchRef } from './activity-types';
import type { BatchTracker } from './batch-tracker';
import {
  fleetUnregisterSignal,
  fleetWorkflowId,
  providerTaskQueue,
  type FleetObservation,
} from './fleet-types';
import type { BatchFleetView, BatchSnapshot, BatchStatus } from './messages';

/**
 * Patch ids (docs/upgrading.md). Runs started before them replay their recorded road: no registration, every
 * provider call on the workflow's own task queue.
 */
export const PATCH_FLEET_POLLING = 'fleet-polling';
export const PATCH_PROVIDER_TASK_QUEUE = 'provider-task-queue';

/**
 * Until the first snapshot from the fleet: the poller sweeps within its shortest interval of a registration in a
 * short phase, else within its longest (120 s by default), and tells a newly registered batch at once.
 */
const FIRST_SNAPSHOT_GRACE_SECONDS = 300;
/** Beyond the fleet's own heartbeat (progressEverySeconds) before silence counts: a slow sweep or two. */
const SILENCE_MARGIN_SECONDS = 600;

const { registerWithFleet } = proxyActivities<BatchActivities>(CALL_OPTIONS);

/** Carried across continue-as-new (absent in runs carried by earlier versions). */
export interface FleetCarried {
  registered: boolean;
  /** The profile has fleet polling off (or registration failed): this batch polls on its own. */
  declined: boolean;
  /** Unix seconds of registration and of the last snapshot from the fleet. */
  registeredAt: number | null;
  heardAt: number | null;
  /** How long the fleet may be silent (its heartbeat plus a margin), from its last snapshot. */
  silenceSeconds: number | null;
  snapshots: number;
}

export class FleetTracking {
  /** The newest snapshot from the fleet not yet applied. */
  pending: FleetObservation | null = null;
  private state: FleetCarried;
  /** The fleet reported the terminal status (and the poller dropped the batch with that). */
  private toldTerminal = false;
  private unregistered = false;

  constructor(
    private readonly ref: BatchRef,
    carried: FleetCarried | undefined,
  ) {
    this.state = carried ?? {
      registered: false,
      declined: false,
      registeredAt: null,
      heardAt: null,
      silenceSeconds: null,
      snapshots: 0,
    };
  }

  get registered(): boolean {
    return this.state.registered;
  }

  /** The signal handler: keeps the newest snapshot of this batch; stale or foreign ones change nothing. */
  receive(observation: FleetObservation | undefined, batch: BatchTracker): boolean {
    if (!this.state.registered || batch.terminal) return false;
    if (!observation || typeof observation.seenAt !== 'number' || !observation.snapshot) return false;
    if (observation.snapshot.id !== this.ref.batchId) return false;
    // Stale (listed before this workflow's own last look, or before a newer snapshot): behind in the lifecycle.
    if (batch.snapshot && behind(observation.snapshot, batch.snapshot)) return false;
    if (this.pending && behind(observation.snapshot, this.pending.snapshot)) return false;
    this.pending = observation;
    this.state.heardAt = nowSeconds();
    if (typeof observation.everySeconds === 'number' && observation.everySeconds > 0) {
      this.state.silenceSeconds = observation.everySeconds + SILENCE_MARGIN_SECONDS;
    }
    return true;
  }

  /**
   * Tracking ended: a batch the fleet did not see end (its own poll did) is taken off the poller's set, so sweeps
   * stop looking for it. One told its terminal status by the fleet was dropped by the poller already.
   */
  async unregister(batch: BatchTracker): Promise<void> {
    if (!this.state.registered || this.unregistered) return;
    this.unregistered = true;
    if (this.toldTerminal || !batch.terminal) return;
    try {
      await getExternalWorkflowHandle(fleetWorkflowId(workflowInfo().taskQueue, this.ref.provider)).signal(
        fleetUnregisterSignal,
        { batchId: this.ref.batchId },
      );
    } catch (err) {
      // A poller that is gone holds nothing to forget; its next sweep would drop a closed batch anyway.
      if (isCancellation(err)) throw err;
    }
  }

  /** The pending snapshot, taken; null when there is none. */
  take(): FleetObservation | null {
    const taken = this.pending;
    this.pending = null;
    if (taken) this.state.snapshots += 1;
    if (taken && RANK[taken.snapshot.status] === 3) this.toldTerminal = true;
    return taken;
  }

  /**
   * After a successful look: register with the profile's poller, once per batch. Runs before the patch never do,
   * and a profile with fleet polling off answers false (the batch polls on its own).
   */
  async register(batch: BatchTracker): Promise<void> {
    const s = this.state;
    const snapshot = batch.snapshot;
    if (s.registered || s.declined || snapshot === null || batch.terminal || batch.cancelSent) return;
    if (!patched(PATCH_FLEET_POLLING)) return;
    try {
      const accepted = await registerWithFleet.executeWithOptions(
        { ...CALL_OPTIONS, summary: `register ${this.ref.batchId} with the fleet poller` },
        [
          {
            provider: this.ref.provider,
            registration: {
              batchId: this.ref.batchId,
              workflowId: workflowInfo().workflowId,
              createdAt: snapshot.timestamps.createdAt,
              status: snapshot.status,
              done: snapshot.requestCounts.completed + snapshot.requestCounts.failed,
            },
          },
        ],
      );
      s.registered = accepted;
      s.declined = !accepted;
      s.registeredAt = accepted ? nowSeconds() : null;
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Correctness does not depend on the fleet: without it the batch polls on its own, as before.
      s.declined = true;
    }
  }

  /**
   * The wait before the workflow's own next look. While the fleet reports the batch it is a safety net: until the
   * fleet has been silent for its heartbeat plus a margin (each snapshot moves that on). A cancel's fast follow-up
   * and a batch the fleet does not report keep the adaptive schedule.
   */
  waitSeconds(adaptive: number, batch: BatchTracker): number {
    const s = this.state;
    if (!s.registered || batch.cancelSent || batch.snapshot?.status === 'cancelling') return adaptive;
    const silentAt =
      s.heardAt !== null
        ? s.heardAt + (s.silenceSeconds ?? SILENCE_MARGIN_SECONDS * 4)
        : (s.registeredAt ?? nowSeconds()) + FIRST_SNAPSHOT_GRACE_SECONDS;
    return Math.max(adaptive, silentAt - nowSeconds());
  }

  carry(): { fleet?: FleetCarried } {
    const s = this.state;
    return s.registered || s.declined ? { fleet: { ...s } } : {};
  }

  view(): BatchFleetView | undefined {
    const s = this.state;
    if (!s.registered && !s.declined) return undefined;
    return {
      registered: s.registered,
      snapshots: s.snapshots,
      lastSnapshotAt: s.heardAt === null ? null : new Date(s.heardAt * 1000).toISOString(),
    };
  }
}

/**
 * Provider calls of runs that took the patch, once the batch was seen, go to the profile's rate-limited queue and
 * wait there for a worker: every worker that runs this code polls the provider queue of each profile it knows, so
 * a call waits only while no worker knowing the profile runs, which the workflow's own queue could not help with
 * either. Never bypassing the queue is what keeps the budget a budget at 10,000 batches (a wait shows as a pending
 * activity, and the tracker's calls, not its batch, pause).
 */
export async function onProviderQueue<T>(
  provider: string,
  options: ActivityOptions,
  call: (options: ActivityOptions) => Promise<T>,
  seenBefore: boolean,
): Promise<T> {
  // The first look stays on the workflow's own queue: a wrong profile or batch id then fails at once, as it always
  // did, instead of waiting for a provider queue no worker polls. One call a batch, outside the budget.
  if (!seenBefore || !patched(PATCH_PROVIDER_TASK_QUEUE)) return call(options);
  return call({ ...options, taskQueue: providerTaskQueue(workflowInfo().taskQueue, provider) });
}

/**
 * Order of a batch's states along its lifecycle. Clocks are not compared (the sweep's worker and this workflow may
 * disagree): a snapshot is stale when its status comes earlier, or it is the same status with fewer done requests.
 */
const RANK: Record<BatchStatus, number> = {
  validating: 0,
  in_progress: 1,
  finalizing: 2,
  cancelling: 2,
  completed: 3,
  failed: 3,
  expired: 3,
  cancelled: 3,
};

function behind(candidate: BatchSnapshot, current: BatchSnapshot): boolean {
  const a = RANK[candidate.status] ?? 0;
  const b = RANK[current.status] ?? 0;
  if (a !== b) return a < b;
  const done = (s: BatchSnapshot) => s.requestCounts.completed + s.requestCounts.failed;
  return done(candidate) < done(current);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

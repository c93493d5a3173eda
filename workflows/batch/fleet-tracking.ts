// A batch workflow's side of fleet polling: it registers with its profile's poller after the first successful look,
// takes the poller's snapshots as poll results (no provider call), and while the fleet keeps reporting it polls on
// its own only as a safety net. A terminal snapshot is not believed as such: one retrieve confirms it first.
import {
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import {
  fleetUnregisterSignal,
  fleetWorkflowId,
  type BatchFleetView,
  type BatchSnapshot,
  type BatchStatus,
  type FleetObservation,
} from '../contract';
import { CALL_OPTIONS } from '../shared/activity-options';
import type { BatchActivities, BatchRef } from '../shared/activity-types';
import { nowSeconds } from '../shared/clock';
import type { FleetCarried } from './carried-state';
import type { BatchTracker } from './tracker';

/**
 * Patch ids (docs/upgrading.md). Runs started before them replay their recorded road: no registration, every
 * provider call on the workflow's own task queue.
 */
export const PATCH_FLEET_POLLING = 'fleet-polling';

/**
 * Until the first snapshot from the fleet: the poller sweeps within its shortest interval of a registration in a
 * short phase, else within its longest (120 s by default), and tells a newly registered batch at once.
 */
const FIRST_SNAPSHOT_GRACE_SECONDS = 300;
/** Beyond the fleet's own heartbeat (progressEverySeconds) before silence counts: a slow sweep or two. */
const SILENCE_MARGIN_SECONDS = 600;

const { registerWithFleet } = proxyActivities<BatchActivities>(CALL_OPTIONS);

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
  receive(observation: FleetObservation | undefined, batch: BatchTracker): void {
    if (!this.state.registered || batch.terminal) return;
    if (!observation || typeof observation.seenAt !== 'number' || !observation.snapshot) return;
    if (observation.snapshot.id !== this.ref.batchId) return;
    // Stale (listed before this workflow's own last look, or before a newer snapshot): behind in the lifecycle.
    if (batch.snapshot && behind(observation.snapshot, batch.snapshot)) return;
    if (this.pending && behind(observation.snapshot, this.pending.snapshot)) return;
    this.pending = observation;
    this.state.heardAt = nowSeconds();
    if (typeof observation.everySeconds === 'number' && observation.everySeconds > 0) {
      this.state.silenceSeconds = observation.everySeconds + SILENCE_MARGIN_SECONDS;
    }
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

  /** The status view's `fleet` field, only for runs that registered (older views stay exactly as they were). */
  statusField(): { fleet?: BatchFleetView } {
    const view = this.view();
    return view ? { fleet: view } : {};
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

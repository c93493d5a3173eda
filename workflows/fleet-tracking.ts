// A batch workflow's side of fleet polling: it registers with its profile's poller after the first successful look,
// takes the poller's snapshots as poll results (no provider call), and while the fleet keeps reporting it polls on
// its own only as a safety net. A terminal snapshot is not believed as such: one retrieve confirms it first.
import {
  ActivityFailure,
  TimeoutFailure,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { CALL_OPTIONS } from './activity-options';
import type { BatchActivities, BatchRef } from './activity-types';
import type { BatchTracker } from './batch-tracker';
import { providerTaskQueue, type FleetObservation } from './fleet-types';
import type { BatchFleetView } from './messages';

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
/**
 * A call on the profile's queue that no worker takes within this long (no worker knows the profile, or none runs
 * the provider queues yet during a rolling deploy) is made on the workflow's own queue instead, as before.
 */
const PROVIDER_QUEUE_SCHEDULE_TO_START = '10 minutes';

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
  /** Unix seconds of this workflow's own last look: an older fleet snapshot is stale. */
  private lastLookAt = 0;

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
    if (observation.seenAt < this.lastLookAt) return false;
    if (this.pending && this.pending.seenAt > observation.seenAt) return false;
    this.pending = observation;
    this.state.heardAt = nowSeconds();
    if (typeof observation.everySeconds === 'number' && observation.everySeconds > 0) {
      this.state.silenceSeconds = observation.everySeconds + SILENCE_MARGIN_SECONDS;
    }
    return true;
  }

  /** The pending snapshot, taken; null when there is none. */
  take(): FleetObservation | null {
    const taken = this.pending;
    this.pending = null;
    if (taken) this.state.snapshots += 1;
    return taken;
  }

  /** This workflow looked at the batch itself (a retrieve or a cancel). */
  looked(): void {
    this.lastLookAt = nowSeconds();
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
 * Provider calls of runs that took the patch go to the profile's rate-limited queue; if no worker takes them
 * there within PROVIDER_QUEUE_SCHEDULE_TO_START, the call is made again on the workflow's own queue.
 */
export async function onProviderQueue<T>(
  provider: string,
  options: ActivityOptions,
  call: (options: ActivityOptions) => Promise<T>,
): Promise<T> {
  if (!patched(PATCH_PROVIDER_TASK_QUEUE)) return call(options);
  try {
    return await call({
      ...options,
      taskQueue: providerTaskQueue(workflowInfo().taskQueue, provider),
      scheduleToStartTimeout: PROVIDER_QUEUE_SCHEDULE_TO_START,
    });
  } catch (err) {
    if (
      err instanceof ActivityFailure &&
      err.cause instanceof TimeoutFailure &&
      err.cause.timeoutType === 'SCHEDULE_TO_START'
    ) {
      return call(options);
    }
    throw err;
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

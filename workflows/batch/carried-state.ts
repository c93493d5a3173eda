// What a batch workflow carries into its next run (continue-as-new). Not a contract for other services, but
// recorded in histories: runs started by earlier versions carry these shapes too, so fields are only ever added,
// optional.
import type {
  BatchSnapshot,
  BatchStatus,
  BatchWorkflowInput,
  CancelRecord,
  ProviderAccessLoss,
  ProviderEventsRecord,
} from '../contract';

/** The workflow's own input: the public one, plus what continue-as-new carries. */
export type BatchRunInput = BatchWorkflowInput & {
  /** Set only by continue-as-new: the state carried over from the previous run. */
  carried?: CarriedState;
};

export interface CarriedState {
  /** Provider events so far (absent in runs carried by earlier versions). */
  events?: ProviderEventsRecord;
  /** Set while the provider refuses access (absent in runs carried by earlier versions). */
  accessLost?: ProviderAccessLoss | null;
  snapshot: BatchSnapshot | null;
  cancel: CancelRecord | null;
  cancelSent: boolean;
  schedule: PollScheduleState;
  providerCalls: number;
  polls: number;
  runs: number;
  startedAt: string;
  /** The last status reported to the parent submission (runs that report status changes only). */
  parentReportedStatus?: BatchStatus | null;
  /** Fleet polling of this batch (absent in runs that never registered). */
  fleet?: FleetCarried;
}

/** The adaptive poll schedule's memory, carried across continue-as-new. */
export interface PollScheduleState {
  currentIntervalSeconds: number;
  lastStatus: BatchStatus | null;
  /** Recent (time, done-requests) observations for the progress rate. */
  progress: { at: number; done: number }[];
}

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

// What a fleet poller carries into its next run (continue-as-new): the registered set and its counters.
import type { FleetEntry, FleetPollerInput } from '../contract';

/** The workflow's own input: the public one, plus what continue-as-new carries. */
export type FleetRunInput = FleetPollerInput & {
  /** Set only by continue-as-new. */
  carried?: FleetCarriedState;
};

export interface FleetCarriedState {
  entries: FleetEntry[];
  runs: number;
  sweeps: number;
  listCalls: number;
  signals: number;
}

// When a run starts over with its state (continue-as-new): the one rule every workflow follows.
import { workflowInfo } from '@temporalio/workflow';

/**
 * The server suggests it, or the run's history reached `afterEvents`: each workflow sets its own bound, well
 * below Temporal's limits, so a run also starts over where the server never suggests it (the test server).
 */
export function historyIsLong(afterEvents: number): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= afterEvents;
}

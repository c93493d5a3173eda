// Adaptive polling: the figure of merit is provider calls per batch against how late a terminal status is seen.
import type { BatchSnapshot, PollPolicy } from '../contract';
import type { PollScheduleState } from './carried-state';

/** Observations kept for the progress rate: enough to smooth one noisy poll, few enough to follow a change of pace. */
const PROGRESS_WINDOW = 4;
/** Poll this long after the predicted finish or expiry, so the provider has flipped the status when we look. */
const AIM_MARGIN_SECONDS = 5;

/** With provider webhooks the end of a batch is pushed: polls only guard against a lost webhook. */
export const PUSHED_MAX_INTERVAL_SECONDS = 3 * 3600;

/**
 * The policy while the provider pushes batch events (webhooks): a sparse safety net that ramps fast to a 3 h cap
 * and does not aim at the expected finish (the webhook tells). A lost webhook costs at most that much lateness.
 */
export function pushedPolicy(policy: PollPolicy): PollPolicy {
  return {
    ...policy,
    backoffCoefficient: Math.max(policy.backoffCoefficient, 2),
    maxIntervalSeconds: Math.max(policy.maxIntervalSeconds, PUSHED_MAX_INTERVAL_SECONDS),
    aimAtExpectedFinish: false,
  };
}

export function initialSchedule(policy: PollPolicy): PollScheduleState {
  return { currentIntervalSeconds: policy.initialIntervalSeconds, lastStatus: null, progress: [] };
}

/** Folds one poll result into the schedule: reset on a status change, grow while nothing changes. */
export function learnFromSnapshot(
  state: PollScheduleState,
  snapshot: BatchSnapshot,
  nowSeconds: number,
  policy: PollPolicy,
): PollScheduleState {
  const done = snapshot.requestCounts.completed + snapshot.requestCounts.failed;
  const statusChanged = state.lastStatus !== snapshot.status;
  let currentIntervalSeconds: number;
  if (statusChanged) {
    currentIntervalSeconds = policy.initialIntervalSeconds;
  } else {
    currentIntervalSeconds = Math.min(
      policy.maxIntervalSeconds,
      state.currentIntervalSeconds * policy.backoffCoefficient,
    );
  }
  // Progress counts only within one status: a new phase starts a new rate.
  const progress = statusChanged ? [] : state.progress.slice(-(PROGRESS_WINDOW - 1));
  progress.push({ at: nowSeconds, done });
  return { currentIntervalSeconds, lastStatus: snapshot.status, progress };
}

/** Seconds until the next poll. */
export function nextWaitSeconds(
  state: PollScheduleState,
  snapshot: BatchSnapshot,
  nowSeconds: number,
  policy: PollPolicy,
  cancelSent: boolean,
): number {
  if (cancelSent || snapshot.status === 'cancelling') return policy.cancelPollIntervalSeconds;
  let wait = state.currentIntervalSeconds;
  if (policy.aimAtExpectedFinish) {
    const eta = secondsToExpectedFinish(state, snapshot, nowSeconds);
    if (eta !== null && eta + AIM_MARGIN_SECONDS < wait) {
      wait = Math.max(policy.minIntervalSeconds, eta + AIM_MARGIN_SECONDS);
    }
    const expiresAt = snapshot.timestamps.expiresAt;
    if (expiresAt !== null && expiresAt > nowSeconds) {
      const untilExpiry = expiresAt - nowSeconds + AIM_MARGIN_SECONDS;
      if (untilExpiry < wait) wait = Math.max(policy.minIntervalSeconds, untilExpiry);
    }
  }
  return Math.max(1, Math.round(wait));
}

/** Time left until all requests are done at the observed rate, or null when there is no rate to go by. */
export function secondsToExpectedFinish(
  state: PollScheduleState,
  snapshot: BatchSnapshot,
  nowSeconds: number,
): number | null {
  if (snapshot.status !== 'in_progress') return null;
  const first = state.progress[0];
  const last = state.progress[state.progress.length - 1];
  if (!first || !last || last.at <= first.at) return null;
  const rate = (last.done - first.done) / (last.at - first.at);
  if (!(rate > 0)) return null;
  const remaining = snapshot.requestCounts.total - last.done;
  if (remaining <= 0) return 0;
  return Math.max(0, remaining / rate - (nowSeconds - last.at));
}

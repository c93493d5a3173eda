// Adaptive polling: the figure of merit is provider calls per batch against how late a terminal status is seen.
import type { PollScheduleState } from './carried-state';
import type { BatchSnapshot, PollPolicy } from './messages';

/**
 * Defaults: 30 s after start or a status change, x1.5 while nothing changes, capped at 15 min.
 * A full 24 h batch then costs about 100 retrieve calls (DashScope suggests 1-2 min, which would be ~1,000),
 * and the progress rate aims a poll at the expected finish so the 15 min cap rarely delays the result.
 */
export const DEFAULT_POLL_POLICY: PollPolicy = {
  initialIntervalSeconds: 30,
  backoffCoefficient: 1.5,
  maxIntervalSeconds: 900,
  minIntervalSeconds: 15,
  cancelPollIntervalSeconds: 10,
  aimAtExpectedFinish: true,
};

/** Observations kept for the progress rate: enough to smooth one noisy poll, few enough to follow a change of pace. */
const PROGRESS_WINDOW = 4;
/** Poll this long after the predicted finish or expiry, so the provider has flipped the status when we look. */
const AIM_MARGIN_SECONDS = 5;

export class InvalidPollPolicyError extends Error {}

export function resolvePollPolicy(overrides: Partial<PollPolicy> | undefined): PollPolicy {
  const given = stripUndefined(overrides ?? {});
  const policy: PollPolicy = { ...DEFAULT_POLL_POLICY, ...given };
  // A lower cap given alone pulls the defaults below it down with it, instead of being an error.
  if (typeof given.maxIntervalSeconds === 'number' && given.maxIntervalSeconds > 0) {
    const cap = given.maxIntervalSeconds;
    if (given.minIntervalSeconds === undefined)
      policy.minIntervalSeconds = Math.min(policy.minIntervalSeconds, cap);
    if (given.initialIntervalSeconds === undefined) {
      policy.initialIntervalSeconds = Math.min(policy.initialIntervalSeconds, cap);
    }
    if (given.cancelPollIntervalSeconds === undefined) {
      policy.cancelPollIntervalSeconds = Math.min(policy.cancelPollIntervalSeconds, cap);
    }
  }
  const problems: string[] = [];
  const positive: (keyof PollPolicy)[] = [
    'initialIntervalSeconds',
    'maxIntervalSeconds',
    'minIntervalSeconds',
    'cancelPollIntervalSeconds',
  ];
  for (const key of positive) {
    const v = policy[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      problems.push(`${key} must be a positive number`);
  }
  if (!(policy.backoffCoefficient >= 1)) problems.push('backoffCoefficient must be >= 1');
  if (policy.minIntervalSeconds > policy.maxIntervalSeconds) {
    problems.push('minIntervalSeconds must not exceed maxIntervalSeconds');
  }
  if (policy.initialIntervalSeconds > policy.maxIntervalSeconds) {
    problems.push('initialIntervalSeconds must not exceed maxIntervalSeconds');
  }
  if (typeof policy.aimAtExpectedFinish !== 'boolean') problems.push('aimAtExpectedFinish must be a boolean');
  if (problems.length > 0) throw new InvalidPollPolicyError(`Invalid poll policy: ${problems.join('; ')}`);
  return policy;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

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
export function observe(
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

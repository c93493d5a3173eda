// A batch's poll policy: the defaults, and the check of what a caller (a batch's or a submission's input) asks for.
import type { PollPolicy } from '../contract';

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

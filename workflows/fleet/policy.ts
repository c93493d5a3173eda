// A fleet poller's cadence: its policy, checked once at start, and the wait before each sweep.
import { ApplicationFailure } from '@temporalio/workflow';
import { DEFAULT_FLEET_POLICY, type FleetPolicy, type SweepResult } from '../contract';

/** Seconds to the next sweep: soon when a batch is about to change, else growing to the policy's maximum. */
export function sweepInterval(last: SweepResult | null, policy: FleetPolicy): number {
  const next = last?.nextChangeSeconds ?? null;
  const wanted = next === null ? policy.maxIntervalSeconds : next;
  return Math.round(Math.min(policy.maxIntervalSeconds, Math.max(policy.minIntervalSeconds, wanted)));
}

export function resolveFleetPolicy(overrides: Partial<FleetPolicy> | undefined): FleetPolicy {
  const policy: FleetPolicy = { ...DEFAULT_FLEET_POLICY };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_FLEET_POLICY) || typeof value !== 'number' || !(value > 0)) {
      throw ApplicationFailure.nonRetryable(
        `Invalid fleet policy: ${key} must be a positive number`,
        'InvalidInput',
      );
    }
    policy[key as keyof FleetPolicy] = value;
  }
  // A short heartbeat given alone pulls the full walk's default down with it, instead of being an error.
  if (overrides?.fullSweepEverySeconds === undefined) {
    policy.fullSweepEverySeconds = Math.min(policy.fullSweepEverySeconds, policy.progressEverySeconds);
  }
  if (policy.fullSweepEverySeconds > policy.progressEverySeconds) {
    throw ApplicationFailure.nonRetryable(
      'Invalid fleet policy: fullSweepEverySeconds must not exceed progressEverySeconds',
      'InvalidInput',
    );
  }
  if (policy.minIntervalSeconds > policy.maxIntervalSeconds) {
    throw ApplicationFailure.nonRetryable(
      'Invalid fleet policy: minIntervalSeconds must not exceed maxIntervalSeconds',
      'InvalidInput',
    );
  }
  return policy;
}

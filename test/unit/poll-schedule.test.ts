import {
  initialSchedule,
  learnFromSnapshot,
  nextWaitSeconds,
  secondsToExpectedFinish,
} from '../../workflows/batch/poll-schedule';
import type { BatchSnapshot, BatchStatus } from '../../workflows/contract';
import { DEFAULT_POLL_POLICY, resolvePollPolicy } from '../../workflows/shared/poll-policy';

function snap(
  status: BatchStatus,
  done: number,
  total = 1000,
  expiresAt: number | null = null,
): BatchSnapshot {
  return {
    id: 'b',
    status,
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    inputFileId: null,
    outputFileId: null,
    errorFileId: null,
    requestCounts: { total, completed: done, failed: 0 },
    errors: [],
    usage: null,
    metadata: {},
    timestamps: {
      createdAt: 1,
      inProgressAt: null,
      expiresAt,
      finalizingAt: null,
      completedAt: null,
      failedAt: null,
      expiredAt: null,
      cancellingAt: null,
      cancelledAt: null,
    },
  };
}

const policy = DEFAULT_POLL_POLICY;

describe('poll schedule', () => {
  test('starts short, grows by the coefficient while nothing changes, and is capped', () => {
    let s = initialSchedule(policy);
    const waits: number[] = [];
    let t = 0;
    for (let i = 0; i < 12; i++) {
      s = learnFromSnapshot(s, snap('validating', 0), t, policy);
      const w = nextWaitSeconds(s, snap('validating', 0), t, policy, false);
      waits.push(w);
      t += w;
    }
    expect(waits.slice(0, 4)).toEqual([30, 45, 68, 101]);
    expect(Math.max(...waits)).toBe(900);
    expect(waits[waits.length - 1]).toBe(900);
  });

  test('a status change resets the wait to the initial interval', () => {
    let s = initialSchedule(policy);
    for (let i = 0; i < 10; i++) s = learnFromSnapshot(s, snap('validating', 0), i * 100, policy);
    expect(s.currentIntervalSeconds).toBe(900);
    s = learnFromSnapshot(s, snap('in_progress', 0), 2000, policy);
    expect(s.currentIntervalSeconds).toBe(30);
    expect(s.progress).toEqual([{ at: 2000, done: 0 }]);
  });

  test('aims at the finish predicted by the progress rate', () => {
    let s = initialSchedule(policy);
    s = learnFromSnapshot(s, snap('in_progress', 0), 0, policy);
    for (let i = 1; i <= 8; i++) s = learnFromSnapshot(s, snap('in_progress', i * 100), i * 100, policy);
    // 1 request/s, 200 left at t=800: finish in 200 s, well under the grown interval.
    expect(secondsToExpectedFinish(s, snap('in_progress', 800), 800)).toBe(200);
    expect(nextWaitSeconds(s, snap('in_progress', 800), 800, policy, false)).toBe(205);
    // Without aiming, the wait is the grown interval.
    expect(
      nextWaitSeconds(s, snap('in_progress', 800), 800, { ...policy, aimAtExpectedFinish: false }, false),
    ).toBe(Math.round(s.currentIntervalSeconds));
  });

  test('never aims below the minimum; aims at expires_at when it comes first; polls fast once cancelled', () => {
    let s = initialSchedule(policy);
    s = learnFromSnapshot(s, snap('in_progress', 0), 0, policy);
    s = learnFromSnapshot(s, snap('in_progress', 999), 100, policy);
    expect(nextWaitSeconds(s, snap('in_progress', 999), 100, policy, false)).toBe(policy.minIntervalSeconds);
    let slow = initialSchedule(policy);
    for (let i = 0; i < 10; i++) slow = learnFromSnapshot(slow, snap('in_progress', i), i * 1000, policy);
    expect(nextWaitSeconds(slow, snap('in_progress', 9, 1000, 9000 + 120), 9000, policy, false)).toBe(125);
    expect(nextWaitSeconds(slow, snap('in_progress', 9), 9000, policy, true)).toBe(
      policy.cancelPollIntervalSeconds,
    );
    expect(nextWaitSeconds(slow, snap('cancelling', 9), 9000, policy, false)).toBe(
      policy.cancelPollIntervalSeconds,
    );
  });

  test('no rate without progress: no aiming on a stalled batch', () => {
    let s = initialSchedule(policy);
    s = learnFromSnapshot(s, snap('in_progress', 10), 0, policy);
    s = learnFromSnapshot(s, snap('in_progress', 10), 600, policy);
    expect(secondsToExpectedFinish(s, snap('in_progress', 10), 600)).toBeNull();
  });

  test('policy overrides are validated with every problem named', () => {
    expect(resolvePollPolicy({ maxIntervalSeconds: 120 }).maxIntervalSeconds).toBe(120);
    // A small cap alone brings the other defaults under it (e.g. fast polling for demos and e2e runs).
    expect(resolvePollPolicy({ maxIntervalSeconds: 2 })).toMatchObject({
      minIntervalSeconds: 2,
      initialIntervalSeconds: 2,
      cancelPollIntervalSeconds: 2,
    });
    expect(() => resolvePollPolicy({ maxIntervalSeconds: 2, minIntervalSeconds: 5 })).toThrow(
      /minIntervalSeconds/,
    );
    expect(resolvePollPolicy({ initialIntervalSeconds: undefined }).initialIntervalSeconds).toBe(30);
    expect(() =>
      resolvePollPolicy({
        backoffCoefficient: 0.5,
        maxIntervalSeconds: 10,
        minIntervalSeconds: 20,
        initialIntervalSeconds: 30,
      }),
    ).toThrow(
      /backoffCoefficient must be >= 1; minIntervalSeconds must not exceed maxIntervalSeconds; initialIntervalSeconds must not exceed maxIntervalSeconds/,
    );
  });
});

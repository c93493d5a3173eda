// What a sweep's memory makes of its sightings: when each batch is next worth a look.
import { SweepMemory } from '../../activities/fleet/memory';
import type { BatchSnapshot, BatchStatus, FleetEntry } from '../../workflows/contract';

const T = 1_800_000_000;
const cadence = { minIntervalSeconds: 20, fullSweepEverySeconds: 900 };

function snap(id: string, status: BatchStatus, done = 0, total = 1000): BatchSnapshot {
  return {
    id,
    status,
    requestCounts: { total, completed: done, failed: 0 },
    timestamps: { createdAt: T - 3600 },
  } as unknown as BatchSnapshot;
}
const entry = (id: string): FleetEntry => ({
  batchId: id,
  createdAt: T - 3600,
  status: 'in_progress',
  done: 0,
  signalledAt: 0,
});

test('never seen: due now; no progress: half the time in its status, from 20 s up to the full walk', () => {
  const m = new SweepMemory();
  expect(m.nextLookAt(entry('a'), cadence)).toBe(0);
  m.see(snap('a', 'in_progress', 0), T);
  expect(m.nextLookAt(entry('a'), cadence)).toBe(T + 20);
  m.see(snap('a', 'in_progress', 0), T + 400);
  expect(m.nextLookAt(entry('a'), cadence)).toBe(T + 400 + 200);
  m.see(snap('a', 'in_progress', 0), T + 4000);
  expect(m.nextLookAt(entry('a'), cadence)).toBe(T + 4000 + 900);
});

test('progressing: looked at when its rate says it finishes (plus 5 s), never later than the full walk', () => {
  const m = new SweepMemory();
  m.see(snap('a', 'in_progress', 100), T);
  m.see(snap('a', 'in_progress', 200), T + 100);
  // 800 left at 1 a second.
  expect(m.nextLookAt(entry('a'), cadence)).toBe(T + 100 + 800 + 5);
  // 900 left at 0.1 a second: 9,000 s away, but the full walk comes first.
  m.see(snap('b', 'in_progress', 0), T);
  m.see(snap('b', 'in_progress', 100), T + 1000);
  expect(m.nextLookAt(entry('b'), cadence)).toBe(T + 1000 + 900);
});

test("finalizing is looked at when this provider's finalizing usually ends, once three were seen", () => {
  const m = new SweepMemory();
  // Before anything was learned: a backoff from 20 s.
  m.see(snap('x', 'finalizing', 1000), T);
  expect(m.nextLookAt(entry('x'), cadence)).toBe(T + 20);
  // Three batches seen to finalize for 290, 300 and 320 s.
  ['a', 'b', 'c'].forEach((id, i) => {
    m.see(snap(id, 'finalizing', 1000), T);
    m.see(snap(id, 'completed', 1000), T + [290, 300, 320][i]);
  });
  expect(m.typicalLength('finalizing')).toBe(300);
  m.see(snap('d', 'finalizing', 1000), T + 1000);
  // 0.9 of the typical 300 s: a phase over by then teaches a shorter length.
  expect(m.nextLookAt(entry('d'), cadence)).toBe(T + 1000 + 270);
  // Still finalizing at that look: it ends any moment, so every 20 s until twice the typical length...
  m.see(snap('d', 'finalizing', 1000), T + 1270);
  expect(m.nextLookAt(entry('d'), cadence)).toBe(T + 1270 + 20);
  // ...then the backoff (half of its 610 s so far).
  m.see(snap('d', 'finalizing', 1000), T + 1610);
  expect(m.nextLookAt(entry('d'), cadence)).toBe(T + 1610 + 305);
  // In progress knows nothing of it.
  m.see(snap('e', 'in_progress', 0), T);
  expect(m.nextLookAt(entry('e'), cadence)).toBe(T + 20);
});

/** A snapshot with the provider's timestamps (worker and provider clocks agree here). */
function timed(id: string, status: BatchStatus, stamps: Record<string, number>, done = 1000): BatchSnapshot {
  return {
    id,
    status,
    requestCounts: { total: 1000, completed: done, failed: 0 },
    timestamps: { createdAt: T - 3600, ...stamps },
  } as unknown as BatchSnapshot;
}

test("a progressing batch is looked at once when its run's end plus this provider's finalizing is over", () => {
  const m = new SweepMemory();
  // Three finalizings of 300 s, learned from the provider's own timestamps.
  ['a', 'b', 'c'].forEach((id) => {
    m.see(timed(id, 'finalizing', { finalizingAt: T - 10 }), T);
    m.see(timed(id, 'completed', { finalizingAt: T - 10, completedAt: T + 290 }), T + 300);
  });
  expect(m.typicalLength('finalizing')).toBe(300);
  m.see(snap('d', 'in_progress', 100), T);
  m.see(snap('d', 'in_progress', 400), T + 100);
  // 600 left at 3 a second: the run ends at T + 300, finalizing takes 300 s, and 5 s of margin.
  expect(m.nextLookAt(entry('d'), cadence)).toBe(T + 300 + 300 + 5);
  // Caught finalizing by a full walk: it is due when its finalizing (begun at T + 300 by the provider) is over.
  m.see(timed('d', 'finalizing', { finalizingAt: T + 300 }), T + 400);
  expect(m.nextLookAt(entry('d'), cadence)).toBe(T + 300 + 300 + 5);
});

test('exact lengths aim at their lower quartile; a finalizing no look saw still teaches from its timestamps', () => {
  const m = new SweepMemory();
  [200, 300, 400, 500].forEach((length, i) => {
    const id = `p${i}`;
    m.see(snap(id, 'in_progress', 500), T);
    m.see(snap(id, 'in_progress', 600), T + 100);
    // Next seen completed: its finalizing was never seen, its timestamps say how long it took.
    m.see(timed(id, 'completed', { finalizingAt: T + 500, completedAt: T + 500 + length }), T + 1200);
  });
  expect(m.typicalLength('finalizing')).toBe(400);
  m.see(timed('q', 'finalizing', { finalizingAt: T + 2000 }), T + 2010);
  expect(m.nextLookAt(entry('q'), cadence)).toBe(T + 2000 + 300 + 5);
});

test("timestamps that do not fit the worker's clock (a fast emulator) are not learned from; sightings are", () => {
  const m = new SweepMemory();
  ['a', 'b', 'c'].forEach((id) => {
    // The provider's clock runs an hour ahead of the sightings.
    m.see(timed(id, 'finalizing', { finalizingAt: T + 3600 }), T);
    m.see(timed(id, 'completed', { finalizingAt: T + 3600, completedAt: T + 3700 }), T + 300);
  });
  // 300 s from the sightings, not the 100 s the timestamps claim; and aimed at 0.9 of it.
  expect(m.typicalLength('finalizing')).toBe(300);
  m.see(timed('d', 'finalizing', { finalizingAt: T + 5000 }), T + 1000);
  expect(m.nextLookAt(entry('d'), cadence)).toBe(T + 1000 + 270);
});

test('a phase that did not run its course teaches nothing: validating, then cancelled', () => {
  const m = new SweepMemory();
  ['a', 'b', 'c'].forEach((id) => {
    m.see(snap(id, 'validating'), T);
    m.see(snap(id, 'cancelled'), T + 30);
  });
  expect(m.typicalLength('validating')).toBeNull();
});

test('a batch seen in progress without progress, then completed, still teaches its finalizing from timestamps', () => {
  const m = new SweepMemory();
  ['a', 'b', 'c'].forEach((id) => {
    m.see(snap(id, 'in_progress', 0), T);
    m.see(timed(id, 'completed', { finalizingAt: T + 600, completedAt: T + 720 }), T + 900);
  });
  expect(m.typicalLength('finalizing')).toBe(120);
});

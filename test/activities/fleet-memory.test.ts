// What a sweep's memory makes of its sightings: when each batch is next worth a look.
import { SweepMemory } from '../../activities/fleet-memory';
import type { FleetEntry } from '../../workflows/fleet-types';
import type { BatchSnapshot, BatchStatus } from '../../workflows/messages';

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

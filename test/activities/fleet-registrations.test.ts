// Registrations coalesced per process: a burst of batch workflows registering becomes a few signals, each
// activity returns only once its registration was sent, and a failed send fails exactly the activities it carried.
import { MAX_REGISTRATIONS_PER_SIGNAL, RegistrationCoalescer } from '../../activities/fleet/registrations';
import type { FleetRegistration } from '../../workflows/contract';

const reg = (i: number): FleetRegistration => ({
  batchId: `b${i}`,
  createdAt: 1_800_000_000,
  status: 'in_progress',
  done: 0,
});

test('a burst of 1,200 registrations is sent as 3 signals, and every caller waits for its own', async () => {
  const coalescer = new RegistrationCoalescer(20);
  const sent: string[][] = [];
  const send = async (group: FleetRegistration[]) => {
    await new Promise((r) => setTimeout(r, 5));
    sent.push(group.map((g) => g.batchId));
  };
  let settled = 0;
  const all = Array.from({ length: 1200 }, (_, i) =>
    coalescer.add('fleet-a', reg(i), send).then(() => {
      // Resolved only after the signal carrying it was sent.
      expect(sent.flat()).toContain(`b${i}`);
      settled += 1;
    }),
  );
  await Promise.all(all);
  expect(settled).toBe(1200);
  expect(sent.map((g) => g.length)).toEqual([
    MAX_REGISTRATIONS_PER_SIGNAL,
    MAX_REGISTRATIONS_PER_SIGNAL,
    200,
  ]);
  expect(new Set(sent.flat()).size).toBe(1200);
  expect(coalescer).toMatchObject({ sent: 3, carried: 1200 });
});

test('pollers are grouped apart; a failed send rejects its own group only, and the next add starts afresh', async () => {
  const coalescer = new RegistrationCoalescer(10);
  const sent: Record<string, number> = {};
  const send = (key: string, fail: boolean) => async (group: FleetRegistration[]) => {
    if (fail) throw new Error(`${key} is busy`);
    sent[key] = (sent[key] ?? 0) + group.length;
  };
  const a = [0, 1].map((i) => coalescer.add('fleet-a', reg(i), send('fleet-a', true)));
  const b = [2, 3, 4].map((i) => coalescer.add('fleet-b', reg(i), send('fleet-b', false)));
  const outcomes = await Promise.allSettled([...a, ...b]);
  expect(outcomes.map((o) => o.status)).toEqual([
    'rejected',
    'rejected',
    'fulfilled',
    'fulfilled',
    'fulfilled',
  ]);
  expect((outcomes[0] as PromiseRejectedResult).reason).toEqual(new Error('fleet-a is busy'));
  expect(sent).toEqual({ 'fleet-b': 3 });
  // Temporal retries the failed activities: they register again, in a new signal.
  await Promise.all([0, 1].map((i) => coalescer.add('fleet-a', reg(i), send('fleet-a', false))));
  expect(sent).toEqual({ 'fleet-b': 3, 'fleet-a': 2 });
});

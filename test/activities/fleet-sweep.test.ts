// The sweep's walk and throttle, against scripted list pages (no Temporal): where it stops, whom it signals, and
// what it makes of providers whose pages lack has_more or whose timestamps are 0.
import type OpenAI from 'openai';
import { WorkflowNotFoundError } from '@temporalio/client';
import { sweep, type SweepDeps } from '../../activities/fleet';
import { SweepMemory } from '../../activities/fleet/memory';
import { ProviderRegistry } from '../../activities/providers';
import type { FleetEntry, FleetObservation } from '../../workflows/contract';
import type { SweepInput } from '../../workflows/shared/activity-types';

const NOW = 1_800_000_000;

interface RawBatch {
  id: string;
  status: string;
  created_at?: number;
  request_counts?: { total: number; completed: number; failed: number };
  [key: string]: unknown;
}

function batch(i: number, status = 'in_progress', extra: Partial<RawBatch> = {}): RawBatch {
  return {
    id: `b${i}`,
    object: 'batch',
    status,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    input_file_id: 'file-in',
    created_at: NOW - i * 60,
    request_counts: { total: 100, completed: 10, failed: 0 },
    ...extra,
  };
}

/** A provider listing `all` (newest first) in pages of `size`; `hasMore: false` leaves the field out. */
function provider(all: RawBatch[], size = 100, options: { hasMore?: boolean } = {}) {
  const calls: (string | undefined)[] = [];
  const client = {
    batches: {
      list: async (q: { after?: string; limit?: number }) => {
        calls.push(q.after);
        const at = q.after === undefined ? -1 : all.findIndex((b) => b.id === q.after);
        // Like OpenAI's 400 for a cursor it does not know.
        if (q.after !== undefined && at === -1)
          throw new Error(`Invalid 'after': no object with id '${q.after}'`);
        const from = at + 1;
        const data = all.slice(from, from + Math.min(size, q.limit ?? 20));
        return options.hasMore === false
          ? { data }
          : { data, has_more: from + data.length < all.length, last_id: data.at(-1)?.id };
      },
    },
  };
  const registry = new ProviderRegistry(
    [{ name: 'p', baseURL: 'http://p.invalid/v1', apiKeyEnv: 'P_KEY', kind: 'openai' }],
    { P_KEY: 'k' },
    () => client as unknown as OpenAI,
  );
  return { registry, calls };
}

function entry(i: number, over: Partial<FleetEntry> = {}): FleetEntry {
  return {
    batchId: `b${i}`,
    createdAt: NOW - i * 60,
    status: 'in_progress',
    done: 10,
    signalledAt: NOW - 60,
    ...over,
  };
}

const input: SweepInput = {
  provider: 'p',
  fleetWorkflowId: 'f',
  progressEverySeconds: 1800,
  maxPages: 50,
  at: NOW,
};

function deps(
  registry: ProviderRegistry,
  entries: FleetEntry[],
  gone = new Set<string>(),
  memory = new SweepMemory(),
) {
  const signals: { workflowId: string; observation: FleetObservation }[] = [];
  const d: SweepDeps = {
    registry,
    entries: async () => entries,
    memory,
    signal: async (workflowId, observation) => {
      if (gone.has(workflowId)) throw new WorkflowNotFoundError('gone', workflowId, undefined);
      signals.push({ workflowId, observation });
    },
  };
  return { d, signals };
}

test('walks pages until every registered batch is found, signals status changes only (progress is throttled)', async () => {
  const all = Array.from({ length: 250 }, (_, i) => batch(i, i === 120 ? 'finalizing' : 'in_progress'));
  const { registry, calls } = provider(all);
  const entries = [entry(5), entry(120), entry(130, { workflowId: 'custom-wf' })];
  const { d, signals } = deps(registry, entries);
  let heartbeats = 0;
  d.heartbeat = () => void (heartbeats += 1);
  const result = await sweep(d, input);
  // A heartbeat a signal: telling thousands of batches outlasts the activity's heartbeat timeout otherwise.
  expect(heartbeats).toBe(signals.length);
  // b130 is on the second page: two list calls, not three.
  expect(calls).toEqual([undefined, 'b99']);
  expect(result).toMatchObject({ pages: 2, listed: 200, found: 3, missing: 0, stoppedBy: 'oldest' });
  // Only b120 changed (in_progress -> finalizing); the others were told a minute ago.
  expect(signals.map((s) => s.workflowId)).toEqual(['batch-b120']);
  expect(result.signalled).toEqual([['b120', 'finalizing', 10]]);
  expect(signals[0].observation).toMatchObject({ seenAt: NOW, page: 2, everySeconds: 1800 });
  // A batch in a short phase asks for the next sweep at the poller's shortest interval (20 s by default).
  expect(result.nextChangeSeconds).toBe(20);
});

test('a batch not told for progressEverySeconds is told again (progress and heartbeat); a custom workflow id is used', async () => {
  const { registry } = provider([batch(1)]);
  const { d, signals } = deps(registry, [entry(1, { workflowId: 'custom-wf', signalledAt: NOW - 1800 })]);
  const result = await sweep(d, input);
  expect(signals.map((s) => s.workflowId)).toEqual(['custom-wf']);
  expect(result.signalled).toEqual([['b1', 'in_progress', 10]]);
});

test('stops at the page older than the oldest registered batch: a batch the list does not show is missing', async () => {
  // b150 is registered but the provider does not list it (a partial list).
  const shown = Array.from({ length: 300 }, (_, i) => batch(i)).filter((b) => b.id !== 'b150');
  const { registry, calls } = provider(shown);
  const { d } = deps(registry, [entry(3), entry(150)]);
  const result = await sweep(d, input);
  // The second page reaches batches created before b150: it cannot be further down.
  expect(result).toMatchObject({ found: 1, missing: 1, stoppedBy: 'oldest', pages: 2 });
  expect(calls).toHaveLength(2);
});

test('created_at 0 and no has_more (another provider): walks on while pages are full, to the end', async () => {
  const all = Array.from({ length: 150 }, (_, i) => batch(i, 'in_progress', { created_at: 0 }));
  const { registry, calls } = provider(all, 100, { hasMore: false });
  const { d } = deps(registry, [entry(1, { createdAt: null }), entry(500, { createdAt: null })]);
  const result = await sweep(d, input);
  // A full first page may have more; the short second page ends the list.
  expect(calls).toEqual([undefined, 'b99']);
  expect(result).toMatchObject({ pages: 2, found: 1, missing: 1, stoppedBy: 'end' });
});

test('the page cap bounds a sweep; a closed workflow is reported gone, not signalled', async () => {
  const all = Array.from({ length: 1000 }, (_, i) => batch(i, i === 0 ? 'completed' : 'in_progress'));
  const { registry, calls } = provider(all);
  const { d, signals } = deps(registry, [entry(0), entry(900)], new Set(['batch-b0']));
  const result = await sweep(d, { ...input, maxPages: 3 });
  expect(calls).toHaveLength(3);
  expect(result).toMatchObject({ stoppedBy: 'cap', found: 1, missing: 1, gone: ['b0'], signalled: [] });
  expect(signals).toEqual([]);
});

test('nothing registered: no list call at all', async () => {
  const { registry, calls } = provider([batch(1)]);
  const { d } = deps(registry, []);
  expect(await sweep(d, input)).toMatchObject({ pages: 0, stoppedBy: 'empty' });
  expect(calls).toEqual([]);
});

describe('between full walks (a warm memory)', () => {
  // 300 batches on 3 pages; b150 has done 80 of its 100 requests in the 10 min since its workflow was last told.
  function world() {
    const all = Array.from({ length: 300 }, (_, i) =>
      batch(i, 'in_progress', i === 150 ? { request_counts: { total: 100, completed: 90, failed: 0 } } : {}),
    );
    const { registry, calls } = provider(all);
    const entries = [10, 150, 250].map((i) => entry(i, { signalledAt: NOW - 600 }));
    const memory = new SweepMemory();
    const { d, signals } = deps(registry, entries, new Set(), memory);
    return { all, calls, entries, memory, d, signals };
  }

  test('a sweep fetches only the page starting at a batch due (its predicted finish), by the cursor before it', async () => {
    const { all, calls, memory, d, signals } = world();
    // Cold: a full walk, which learns the list's order and the batches' progress.
    const first = await sweep(d, input);
    expect(first).toMatchObject({ pages: 3, stoppedBy: 'oldest', found: 3 });
    // 10 requests left at 80 per 600 s: 75 s, plus a 5 s margin.
    expect(first.nextChangeSeconds).toBe(80);
    calls.length = 0;

    all[150] = batch(150, 'finalizing', { request_counts: { total: 100, completed: 100, failed: 0 } });
    const second = await sweep(d, { ...input, at: NOW + 80 });
    expect(calls).toEqual(['b149']);
    expect(second).toMatchObject({ pages: 1, stoppedBy: 'targeted', found: 1, missing: 0 });
    expect(second.signalled).toEqual([['b150', 'finalizing', 100]]);
    expect(signals.map((s) => s.workflowId)).toEqual(['batch-b150']);
    // In a short phase: looked at again at the shortest interval; the others not before 300 s (half their 600 s).
    expect(second.nextChangeSeconds).toBe(20);
    calls.length = 0;

    expect(await sweep(d, { ...input, at: NOW + 85 })).toMatchObject({ pages: 0, stoppedBy: 'nothing-due' });
    expect(calls).toEqual([]);

    await sweep(d, { ...input, at: NOW + 100 });
    expect(calls).toEqual(['b149']);
    calls.length = 0;

    // fullSweepEverySeconds (900 by default) after the last full walk: every page again.
    expect(await sweep(d, { ...input, at: NOW + 900 })).toMatchObject({ pages: 3, stoppedBy: 'oldest' });
    expect(memory.lastFullAt).toBe(NOW + 900);
  });

  test('a batch created after the last full walk is looked for from the top of the list', async () => {
    const { all, calls, entries, d } = world();
    await sweep(d, input);
    calls.length = 0;
    all.unshift(batch(-1, 'validating', { id: 'bnew', created_at: NOW + 10 }));
    entries.push(entry(-1, { batchId: 'bnew', createdAt: NOW + 10, status: 'validating', signalledAt: 0 }));
    const result = await sweep(d, { ...input, at: NOW + 20 });
    expect(calls).toEqual([undefined]);
    expect(result).toMatchObject({ stoppedBy: 'targeted', found: 1, missing: 0 });
    // Never told: told at once (the fleet's hello), though its status is the one it registered with.
    expect(result.signalled).toEqual([['bnew', 'validating', 10]]);
  });

  test('a cursor the provider refuses fails the sweep and makes the next one a full walk', async () => {
    const { all, calls, memory, d } = world();
    await sweep(d, input);
    // The batch listed before b150 is gone from the provider's list.
    all.splice(149, 1);
    calls.length = 0;
    await expect(sweep(d, { ...input, at: NOW + 80 })).rejects.toThrow(/Invalid 'after'/);
    expect(memory.lastFullAt).toBeNull();
    expect(await sweep(d, { ...input, at: NOW + 90 })).toMatchObject({ stoppedBy: 'oldest', found: 3 });
    expect(calls[calls.length - 3]).toBeUndefined();
  });

  test('a policy that asks for more pages of due batches than the list has walks it all instead', async () => {
    const { memory, d } = world();
    await sweep(d, input);
    // 300 s later every batch is due (half of the 600 s they spent in progress): 3 targets, 3 pages listed.
    expect(await sweep(d, { ...input, at: NOW + 300 })).toMatchObject({ pages: 3, stoppedBy: 'oldest' });
    expect(memory.lastFullAt).toBe(NOW + 300);
  });
});

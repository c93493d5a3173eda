// The sweep's walk and throttle, against scripted list pages (no Temporal): where it stops, whom it signals, and
// what it makes of providers whose pages lack has_more or whose timestamps are 0.
import { WorkflowNotFoundError } from '@temporalio/client';
import type OpenAI from 'openai';
import { ProviderRegistry } from '../../activities/providers';
import { sweep, type SweepDeps } from '../../activities/fleet';
import type { FleetEntry, FleetObservation, SweepInput } from '../../workflows/fleet-types';

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
        const from = q.after === undefined ? 0 : all.findIndex((b) => b.id === q.after) + 1;
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

function deps(registry: ProviderRegistry, entries: FleetEntry[], gone = new Set<string>()) {
  const signals: { workflowId: string; observation: FleetObservation }[] = [];
  const d: SweepDeps = {
    registry,
    entries: async () => entries,
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
  const result = await sweep(d, input);
  // b130 is on the second page: two list calls, not three.
  expect(calls).toEqual([undefined, 'b99']);
  expect(result).toMatchObject({ pages: 2, listed: 200, found: 3, missing: 0, stoppedBy: 'oldest' });
  // Only b120 changed (in_progress -> finalizing); the others were told a minute ago.
  expect(signals.map((s) => s.workflowId)).toEqual(['batch-b120']);
  expect(result.signalled).toEqual([['b120', 'finalizing', 10]]);
  expect(signals[0].observation).toMatchObject({ seenAt: NOW, page: 2, everySeconds: 1800 });
  // A batch in a short phase asks for the next sweep soon.
  expect(result.nextChangeSeconds).toBe(0);
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

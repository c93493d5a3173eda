// The fleet's activities: one sweep lists the provider's pages that cover the registered batches and signals each
// batch workflow what changed; registration starts the profile's poller on first use. See docs/scale.md.
import { Context, activityInfo, log } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Batch } from 'openai/resources/batches';
import {
  DEFAULT_FLEET_POLICY,
  FLEET_WORKFLOW_TYPE,
  batchWorkflowId,
  fleetEntriesQuery,
  fleetRegisterSignal,
  fleetSnapshotSignal,
  fleetWorkflowId,
  type BatchSnapshot,
  type FleetEntry,
  type FleetObservation,
  type FleetPolicy,
  type SweepResult,
} from '../../workflows/contract';
import type { RegisterInput, SweepInput } from '../../workflows/shared/activity-types';
import { withPush } from '../batches';
import { classifyProviderError } from '../errors';
import { toSnapshot } from '../normalize';
import { DEFAULT_RATE_LIMIT_PER_SECOND, type ProviderRegistry } from '../providers';
import { SweepMemory, type Cadence } from './memory';
import { RegistrationCoalescer } from './registrations';

/** The most a list call returns (OpenAI and DashScope both cap `limit` at 100). */
export const PAGE_SIZE = 100;
/** Signals sent at once: enough to tell 10,000 batches in seconds, few enough not to flood the frontend. */
const SIGNAL_CONCURRENCY = 16;

export interface ListedPage {
  batches: BatchSnapshot[];
  /** Cursor for the next (older) page; null when the provider gave no id to continue from. */
  lastId: string | null;
  hasMore: boolean;
}

/**
 * One page of `GET /batches`, newest first, normalized. Providers differ: `has_more` may be missing (a full
 * page then means "maybe more"), `created_at` may be 0 or absent (normalized to null), items may be malformed
 * (left out: the batch's own polling covers it).
 */
export async function listBatchPage(
  registry: ProviderRegistry,
  provider: string,
  after: string | null,
): Promise<ListedPage> {
  const client = registry.client(provider);
  let page: { data?: unknown; has_more?: unknown };
  try {
    // Read loosely: another provider's page may lack has_more or hold malformed items.
    page = await client.batches.list({ limit: PAGE_SIZE, ...(after ? { after } : {}) });
  } catch (err) {
    throw classifyProviderError(err, {
      provider,
      operation: 'list batches',
      apiKeyEnv: registry.profile(provider).apiKeyEnv,
    });
  }
  const raw = Array.isArray(page.data) ? (page.data as unknown[]) : [];
  const batches: BatchSnapshot[] = [];
  for (const item of raw) {
    if (!item || typeof item !== 'object' || typeof (item as { id?: unknown }).id !== 'string') continue;
    const snapshot = toSnapshot(item as Batch);
    batches.push(withPush(registry, { provider, batchId: snapshot.id }, snapshot));
  }
  const lastRaw = raw.length > 0 ? (raw[raw.length - 1] as { id?: unknown }) : undefined;
  const lastId = lastRaw && typeof lastRaw.id === 'string' ? lastRaw.id : null;
  const hasMore = typeof page.has_more === 'boolean' ? page.has_more : raw.length >= PAGE_SIZE;
  return { batches, lastId, hasMore: hasMore && lastId !== null };
}

/** What a sweep needs from its environment; the activity wires the real ones, tests may pass fakes. */
export interface SweepDeps {
  registry: ProviderRegistry;
  /** The registered set, read from the poller. */
  entries: () => Promise<FleetEntry[]>;
  /** Signals one batch workflow; rejects with WorkflowNotFoundError when it is gone. */
  signal: (workflowId: string, observation: FleetObservation) => Promise<void>;
  now?: () => number;
  /** Waits between list calls (pacing); the activity's also heartbeats. */
  pause?: (ms: number) => Promise<void>;
  /** Called after each signal: the activity heartbeats (telling 10,000 batches takes longer than its timeout). */
  heartbeat?: () => void;
  /** This process's memory of the list (targeted sweeps); a fresh one makes the sweep a full walk. */
  memory: SweepMemory;
}

/**
 * One sweep. A full walk (no memory yet, or `fullSweepEverySeconds` since the last, or more batches due than
 * pages in the list) lists pages newest first until every registered batch was found, or the page's oldest batch is
 * older than the oldest registered one, or the list ends, or the page cap. Between full walks a targeted sweep
 * fetches only the pages that start at batches due for a look (SweepMemory.nextLookAt), jumping there with the
 * cursor `after=<the id listed just before it>`; batches newer than the last full walk are looked for from the top.
 * A batch found is signalled when its status changed, or when its last report is old enough that the next full
 * walk would be too late for the fleet's heartbeat (`progressEverySeconds`).
 */
export async function sweep(deps: SweepDeps, input: SweepInput): Promise<SweepResult> {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const at = input.at ?? now();
  const entries = await deps.entries();
  const registered = new Map(entries.map((e) => [e.batchId, e]));
  const result: SweepResult = {
    at,
    pages: 0,
    listed: 0,
    found: 0,
    missing: 0,
    stoppedBy: 'empty',
    signalled: [],
    gone: [],
    nextChangeSeconds: null,
  };
  if (registered.size === 0) return result;
  const memory = deps.memory;
  const cadence: Cadence = {
    minIntervalSeconds: input.minIntervalSeconds ?? DEFAULT_FLEET_POLICY.minIntervalSeconds,
    fullSweepEverySeconds: input.fullSweepEverySeconds ?? DEFAULT_FLEET_POLICY.fullSweepEverySeconds,
  };
  // Reports due by the heartbeat: early enough that the next full walk is not too late for it.
  const heartbeatAfter = Math.max(0, input.progressEverySeconds - cadence.fullSweepEverySeconds);
  const pacingMs = 1000 / pagesPerSecond(deps.registry, input.provider);
  const found = new Set<string>();
  const toSignal: { entry: FleetEntry; observation: FleetObservation }[] = [];

  const fetch = async (after: string | null): Promise<ListedPage> => {
    if (result.pages > 0 && deps.pause) await deps.pause(pacingMs);
    const page = await listBatchPage(deps.registry, input.provider, after);
    result.pages += 1;
    result.listed += page.batches.length;
    for (const snapshot of page.batches) {
      const entry = registered.get(snapshot.id);
      if (!entry || found.has(snapshot.id)) continue;
      found.add(snapshot.id);
      memory.see(snapshot, at, entry);
      const heartbeatDue = at - entry.signalledAt >= heartbeatAfter;
      if (snapshot.status !== entry.status || heartbeatDue) {
        toSignal.push({
          entry,
          observation: { snapshot, seenAt: at, page: result.pages, everySeconds: input.progressEverySeconds },
        });
      }
    }
    return page;
  };

  const slack = cadence.minIntervalSeconds / 2;
  const due = entries.filter((e) => memory.nextLookAt(e, cadence) <= at + slack);
  const fullPages = Math.ceil(memory.listed / PAGE_SIZE);
  const fullWalk =
    memory.lastFullAt === null ||
    at - memory.lastFullAt >= cadence.fullSweepEverySeconds ||
    due.length >= Math.max(1, fullPages);
  if (fullWalk) {
    memory.beginFullWalk(new Set(registered.keys()));
    await walkAll(input, registered, found, fetch, (id) => memory.listedInFullWalk(id), result);
    memory.endFullWalk(at);
    result.found = found.size;
    result.missing = registered.size - found.size;
  } else if (due.length === 0) {
    result.stoppedBy = 'nothing-due';
  } else {
    try {
      await walkTargeted(memory, due, found, fetch, input.maxPages);
    } catch (err) {
      // A cursor the provider no longer knows: the list order is relearned by a full walk next time.
      memory.invalidate();
      throw err;
    }
    result.stoppedBy = 'targeted';
    result.found = due.filter((e) => found.has(e.batchId)).length;
    result.missing = due.length - result.found;
  }

  let next = (memory.lastFullAt ?? at) + cadence.fullSweepEverySeconds;
  for (const e of entries) next = Math.min(next, memory.nextLookAt(e, cadence));
  result.nextChangeSeconds = Math.max(0, next - at);

  await forEachLimited(toSignal, SIGNAL_CONCURRENCY, async ({ entry, observation }) => {
    const { snapshot } = observation;
    try {
      await deps.signal(entry.workflowId ?? batchWorkflowId(entry.batchId), observation);
      deps.heartbeat?.();
      result.signalled.push([
        snapshot.id,
        snapshot.status,
        snapshot.requestCounts.completed + snapshot.requestCounts.failed,
      ]);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) result.gone.push(entry.batchId);
      // Anything else: not recorded as told, so the next sweep tries again.
      else log.warn('fleet signal failed', { batchId: entry.batchId, error: (err as Error).message });
    }
  });
  return result;
}

async function walkAll(
  input: SweepInput,
  registered: Map<string, FleetEntry>,
  found: Set<string>,
  fetch: (after: string | null) => Promise<ListedPage>,
  listed: (id: string) => void,
  result: SweepResult,
): Promise<void> {
  const createdTimes = [...registered.values()].map((e) => e.createdAt);
  // Unknown creation times (a provider writing 0) cannot bound the walk: it then ends when all are found.
  const oldest = createdTimes.includes(null) ? null : Math.min(...(createdTimes as number[]));
  let after: string | null = null;
  for (;;) {
    const page = await fetch(after);
    let pageOldest: number | null = null;
    for (const snapshot of page.batches) {
      listed(snapshot.id);
      const created = snapshot.timestamps.createdAt;
      if (created !== null) pageOldest = pageOldest === null ? created : Math.min(pageOldest, created);
    }
    if (found.size === registered.size) {
      result.stoppedBy = 'oldest';
      return;
    }
    if (oldest !== null && pageOldest !== null && pageOldest < oldest) {
      result.stoppedBy = 'oldest';
      return;
    }
    if (!page.hasMore) {
      result.stoppedBy = 'end';
      return;
    }
    if (result.pages >= input.maxPages) {
      result.stoppedBy = 'cap';
      return;
    }
    after = page.lastId;
  }
}

/**
 * The pages holding the due batches, newest first: each starts at the first due batch not yet found. One listed
 * after the last full walk (no place yet) is looked for from the top, down to its creation time.
 */
async function walkTargeted(
  memory: SweepMemory,
  due: FleetEntry[],
  found: Set<string>,
  fetch: (after: string | null) => Promise<ListedPage>,
  maxPages: number,
): Promise<void> {
  const ordered = [...due].sort((a, b) => memory.placeOf(a.batchId) - memory.placeOf(b.batchId));
  let pages = 0;
  for (const target of ordered) {
    if (found.has(target.batchId)) continue;
    const start = memory.cursorFor(target.batchId);
    const placed = start !== undefined;
    let cursor: string | null = start ?? null;
    while (!found.has(target.batchId) && pages < maxPages) {
      const page = await fetch(cursor);
      pages += 1;
      if (found.has(target.batchId) || placed || !page.hasMore) break;
      const oldestOnPage = Math.min(...page.batches.map((b) => b.timestamps.createdAt ?? Infinity));
      if (target.createdAt !== null && oldestOnPage < target.createdAt) break;
      cursor = page.lastId;
    }
    if (pages >= maxPages) return;
  }
}

/**
 * List calls of a sweep go out at half the profile's rate budget: the sweep is one activity to the task queue's
 * rate limiter, so its pages are paced here, leaving the other half to retrieves and cancels (docs/scale.md).
 */
export function pagesPerSecond(registry: ProviderRegistry, provider: string): number {
  const rate = registry.profile(provider).rateLimitPerSecond ?? DEFAULT_RATE_LIMIT_PER_SECOND;
  return Math.max(0.1, rate / 2);
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}

/** The activities as registered on the worker: the Temporal client comes from the activity's context. */
export function createFleetActivities(registry: ProviderRegistry) {
  const registrations = new RegistrationCoalescer();
  /** By poller: what this process learned of its provider's list (lost on restart: the next sweep walks all). */
  const memories = new Map<string, SweepMemory>();
  const memoryOf = (fleetWorkflowId: string) => {
    let memory = memories.get(fleetWorkflowId);
    if (!memory) memories.set(fleetWorkflowId, (memory = new SweepMemory()));
    return memory;
  };
  return {
    sweepFleet: async (input: SweepInput): Promise<SweepResult> => {
      const ctx = Context.current();
      const client: Client = ctx.client;
      const result = await sweep(
        {
          registry,
          entries: () => client.workflow.getHandle(input.fleetWorkflowId).query(fleetEntriesQuery),
          signal: (workflowId, observation) =>
            client.workflow.getHandle(workflowId).signal(fleetSnapshotSignal, observation),
          pause: async (ms) => {
            ctx.heartbeat();
            await ctx.sleep(ms);
          },
          // The SDK sends at most one heartbeat per throttle interval, however often this is called.
          heartbeat: () => ctx.heartbeat(),
          memory: memoryOf(input.fleetWorkflowId),
        },
        input,
      );
      log.info('fleet sweep', {
        provider: input.provider,
        pages: result.pages,
        found: result.found,
        missing: result.missing,
        signalled: result.signalled.length,
        gone: result.gone.length,
        stoppedBy: result.stoppedBy,
      });
      return result;
    },
    registerWithFleet: async ({ provider, registration }: RegisterInput): Promise<boolean> => {
      const policy = fleetPolicyOf(registry, provider);
      if (policy === null) return false;
      const { client } = Context.current();
      const workflowId = fleetWorkflowId(activityInfo().taskQueue, provider);
      // The poller runs with the workflows; its sweeps go to the profile's rate-limited queue.
      const taskQueue = activityInfo().taskQueue;
      await registrations.add(workflowId, registration, async (group) => {
        await client.workflow.signalWithStart(FLEET_WORKFLOW_TYPE, {
          workflowId,
          taskQueue,
          args: [{ provider, ...(Object.keys(policy).length > 0 ? { policy } : {}) }],
          signal: fleetRegisterSignal,
          signalArgs: [group],
        });
      });
      return true;
    },
  };
}

/**
 * The profile's fleet settings, or null when fleet polling is off for it (or it is unknown here). On by default
 * for the kinds whose list is known (openai, dashscope); a `generic` provider may not list at all: opt in.
 */
export function fleetPolicyOf(registry: ProviderRegistry, provider: string): Partial<FleetPolicy> | null {
  let profile;
  try {
    profile = registry.profile(provider);
  } catch {
    return null;
  }
  const setting = profile.fleetPolling ?? profile.kind !== 'generic';
  if (setting === false) return null;
  return typeof setting === 'object' ? { ...setting } : {};
}

// The fleet's activities: one sweep lists the provider's pages that cover the registered batches and signals each
// batch workflow what changed; registration starts the profile's poller on first use. See docs/scale.md.
import { Context, activityInfo, log } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Batch } from 'openai/resources/batches';
import {
  FLEET_WORKFLOW_TYPE,
  fleetEntriesQuery,
  fleetRegisterSignal,
  fleetSnapshotSignal,
  fleetWorkflowId,
  type FleetEntry,
  type FleetObservation,
  type FleetPolicy,
  type RegisterInput,
  type SweepInput,
  type SweepResult,
} from '../workflows/fleet-types';
import { batchWorkflowId, isTerminal, type BatchSnapshot, type BatchStatus } from '../workflows/messages';
import { withPush } from './batches';
import { classifyProviderError } from './errors';
import { toSnapshot } from './normalize';
import { DEFAULT_RATE_LIMIT_PER_SECOND, type ProviderRegistry } from './providers';

/** The most a list call returns (OpenAI and DashScope both cap `limit` at 100). */
export const PAGE_SIZE = 100;
/** Signals sent at once: enough to tell 10,000 batches in seconds, few enough not to flood the frontend. */
const SIGNAL_CONCURRENCY = 16;
const SHORT_PHASES: readonly BatchStatus[] = ['validating', 'finalizing', 'cancelling'];

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
}

/**
 * One sweep: pages newest first until every registered batch was found, or the page's oldest batch is older
 * than the oldest registered one, or the list ends, or the page cap. A batch found is signalled when its status
 * changed, or when it was last told `progressEverySeconds` ago (progress, and the fleet's heartbeat).
 */
export async function sweep(deps: SweepDeps, input: SweepInput): Promise<SweepResult> {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const at = input.at ?? now();
  const registered = new Map((await deps.entries()).map((e) => [e.batchId, e]));
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
  const createdTimes = [...registered.values()].map((e) => e.createdAt);
  // Unknown creation times (a provider writing 0) cannot bound the walk: it then ends when all are found.
  const oldest = createdTimes.includes(null) ? null : Math.min(...(createdTimes as number[]));
  const pacingMs = 1000 / pagesPerSecond(deps.registry, input.provider);
  const found = new Set<string>();
  const toSignal: { entry: FleetEntry; observation: FleetObservation }[] = [];

  let after: string | null = null;
  for (;;) {
    if (result.pages > 0 && deps.pause) await deps.pause(pacingMs);
    const page = await listBatchPage(deps.registry, input.provider, after);
    result.pages += 1;
    result.listed += page.batches.length;
    let pageOldest: number | null = null;
    for (const snapshot of page.batches) {
      const created = snapshot.timestamps.createdAt;
      if (created !== null) pageOldest = pageOldest === null ? created : Math.min(pageOldest, created);
      const entry = registered.get(snapshot.id);
      if (!entry || found.has(snapshot.id)) continue;
      found.add(snapshot.id);
      const done = snapshot.requestCounts.completed + snapshot.requestCounts.failed;
      const due = snapshot.status !== entry.status || at - entry.signalledAt >= input.progressEverySeconds;
      if (due) {
        const observation = {
          snapshot,
          seenAt: at,
          page: result.pages,
          everySeconds: input.progressEverySeconds,
        };
        toSignal.push({ entry, observation });
      }
      const change = secondsToChange(entry, snapshot, done, at);
      if (change !== null) {
        result.nextChangeSeconds =
          result.nextChangeSeconds === null ? change : Math.min(result.nextChangeSeconds, change);
      }
    }
    if (found.size === registered.size) {
      result.stoppedBy = 'oldest';
      break;
    }
    if (oldest !== null && pageOldest !== null && pageOldest < oldest) {
      result.stoppedBy = 'oldest';
      break;
    }
    if (!page.hasMore) {
      result.stoppedBy = 'end';
      break;
    }
    if (result.pages >= input.maxPages) {
      result.stoppedBy = 'cap';
      break;
    }
    after = page.lastId;
  }
  result.found = found.size;
  result.missing = registered.size - found.size;

  await forEachLimited(toSignal, SIGNAL_CONCURRENCY, async ({ entry, observation }) => {
    const { snapshot } = observation;
    try {
      await deps.signal(entry.workflowId ?? batchWorkflowId(entry.batchId), observation);
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

/**
 * Seconds until this batch is expected to change: 0 in a short phase (validating, finalizing, cancelling), the
 * finish predicted from the progress since it was last told, or its expiry; null when nothing is expected.
 */
function secondsToChange(
  entry: FleetEntry,
  snapshot: BatchSnapshot,
  done: number,
  at: number,
): number | null {
  if (isTerminal(snapshot.status) || SHORT_PHASES.includes(snapshot.status)) return 0;
  if (snapshot.status !== 'in_progress') return null;
  let best: number | null = null;
  const elapsed = at - entry.signalledAt;
  if (entry.status === 'in_progress' && entry.signalledAt > 0 && elapsed > 0 && done > entry.done) {
    const rate = (done - entry.done) / elapsed;
    best = Math.max(0, (snapshot.requestCounts.total - done) / rate);
  }
  const expiresAt = snapshot.timestamps.expiresAt;
  if (expiresAt !== null) best = best === null ? expiresAt - at : Math.min(best, expiresAt - at);
  return best === null ? null : Math.max(0, best);
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
      await Context.current().client.workflow.signalWithStart(FLEET_WORKFLOW_TYPE, {
        workflowId: fleetWorkflowId(activityInfo().taskQueue, provider),
        // The poller runs with the workflows; its sweeps go to the profile's rate-limited queue.
        taskQueue: activityInfo().taskQueue,
        args: [{ provider, ...(Object.keys(policy).length > 0 ? { policy } : {}) }],
        signal: fleetRegisterSignal,
        signalArgs: [registration],
      });
      return true;
    },
  };
}

/**
 * The profile's fleet settings, or null when fleet polling is off for it (or it is unknown here). Opt-in per
 * profile: its first benchmark (docs/scale.md) saw later terminal sightings than per-batch polling and refused
 * registrations at 10,000 batches, so it is not the default until it beats per-batch polling where it counts.
 */
export function fleetPolicyOf(registry: ProviderRegistry, provider: string): Partial<FleetPolicy> | null {
  let profile;
  try {
    profile = registry.profile(provider);
  } catch {
    return null;
  }
  const setting = profile.fleetPolling ?? false;
  if (setting === false) return null;
  return typeof setting === 'object' ? { ...setting } : {};
}

// Counts every HTTP request the worker's `openai` clients send, by provider profile, operation and outcome.
// It sits in the clients' `fetch`, so every call site (batches, files, uploads, model lookups) is counted
// without touching the activities, and what they return or throw stays exactly as it was.
import type OpenAI from 'openai';
import type { ClientOptions } from 'openai';
import { ProviderRegistry, type ProviderProfile } from '../../activities/providers';
import type { BatchkeeperMetrics, ProviderCallOutcome, ProviderOperation } from './metrics';

type Fetch = NonNullable<ClientOptions['fetch']>;

const COLLECTIONS = new Set(['batches', 'files', 'uploads']);

/**
 * The Batch API operation of a request, from its method and path; ids never leave this function. The base URL's
 * path varies (/v1, /compatible-mode/v1, a gateway's prefix): only the last three segments name the call.
 */
export function providerOperation(method: string, url: string): ProviderOperation {
  let segments: string[];
  try {
    segments = new URL(url).pathname.split('/').filter(Boolean);
  } catch {
    return 'other';
  }
  const tail = segments.slice(-3);
  const at = tail.findIndex((s) => COLLECTIONS.has(s));
  if (at < 0) return 'other';
  const [collection, id, action] = tail.slice(at);
  const verb = method.toUpperCase();
  if (collection === 'uploads') return verb === 'POST' ? 'upload' : 'other';
  if (collection === 'batches') {
    if (id === undefined) return verb === 'POST' ? 'create' : verb === 'GET' ? 'list' : 'other';
    if (action === undefined) return verb === 'GET' ? 'retrieve' : 'other';
    return action === 'cancel' && verb === 'POST' ? 'cancel' : 'other';
  }
  if (id === undefined) return verb === 'POST' ? 'upload' : verb === 'GET' ? 'file_list' : 'other';
  if (action === 'content') return verb === 'GET' ? 'download' : 'other';
  if (action !== undefined) return 'other';
  return verb === 'DELETE' ? 'delete' : verb === 'GET' ? 'file_retrieve' : 'other';
}

/** Mirrors the activities' error classes (activities/errors.ts), named for a chart legend. */
export function callOutcome(status: number): ProviderCallOutcome {
  if (status < 400) return 'ok';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status >= 500) return 'server_error';
  return 'client_error';
}

function thrownOutcome(err: unknown): ProviderCallOutcome {
  // By name, not instanceof: DOMException (an abort) is not an Error in every realm.
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  // The client's timeout and a cancelled activity abort the request; refused or reset connections throw.
  return name === 'AbortError' || name === 'TimeoutError' ? 'aborted' : 'network';
}

function requestMethod(input: Parameters<Fetch>[0], init: Parameters<Fetch>[1]): string {
  return init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET');
}

function requestUrl(input: Parameters<Fetch>[0]): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
}

/** `inner` with every request counted once, whatever it answers; the Response or error passes through. */
export function meteredFetch(provider: string, metrics: BatchkeeperMetrics, inner: Fetch): Fetch {
  return async (input, init) => {
    const operation = providerOperation(requestMethod(input, init), requestUrl(input));
    let response: Response;
    try {
      response = await inner(input, init);
    } catch (err) {
      metrics.providerCalls(1, { provider, operation, outcome: thrownOutcome(err) });
      throw err;
    }
    metrics.providerCalls(1, { provider, operation, outcome: callOutcome(response.status) });
    return response;
  };
}

/** The worker's registry: the same profiles, keys and client options, with counted requests. */
export class MeteredProviderRegistry extends ProviderRegistry {
  private readonly metered = new WeakMap<OpenAI, OpenAI>();

  constructor(
    profiles: readonly ProviderProfile[],
    env: NodeJS.ProcessEnv,
    private readonly metrics: BatchkeeperMetrics,
  ) {
    super(profiles, env);
  }

  override client(name: string): OpenAI {
    const base = super.client(name);
    let client = this.metered.get(base);
    if (!client) {
      // `withOptions` keeps the base client's key, URL, timeout and retries; only the transport is wrapped.
      const inner = (Reflect.get(base, 'fetch') as Fetch | undefined) ?? fetch;
      client = base.withOptions({ fetch: meteredFetch(name, this.metrics, inner) });
      this.metered.set(base, client);
    }
    return client;
  }
}

import OpenAI from 'openai';
import { ApplicationFailure } from '@temporalio/common';
import type { FleetPolicy } from '../workflows/contract';
import { ErrorTypes } from '../workflows/shared/error-types';
import { rememberSecret } from './redact';

export type ProviderKind = 'openai' | 'dashscope' | 'generic';

/** A provider profile names where to call and which env var holds the key; never the key itself. */
export interface ProviderProfile {
  name: string;
  baseURL: string;
  /** Name of the environment variable holding the API key (read in the worker process only). */
  apiKeyEnv: string;
  kind: ProviderKind;
  /** Per-request timeout; activities have their own start-to-close timeout above it. */
  timeoutMs?: number;
  /**
   * Name of the env var holding the provider's webhook signing secret (`whsec_...`), read by the webhook
   * receiver only. Set: the provider pushes batch events, so the workers' own polls become a sparse safety net.
   */
  webhookSecretEnv?: string;
  /** Webhook events for batches nobody tracks start tracking them (signal-with-start). Default false. */
  trackUnknown?: boolean;
  /**
   * Provider calls of this profile per second, across all workers (Temporal's task-queue activity rate limit on
   * the profile's queue). Default DEFAULT_RATE_LIMIT_PER_SECOND; see docs/scale.md for sizing.
   */
  rateLimitPerSecond?: number;
  /**
   * Fleet polling through `batches.list` (docs/scale.md): on by default for the openai and dashscope kinds, off
   * for generic ones (which may not list); false turns it off, true or an object (tuning the poller) on.
   */
  fleetPolling?: boolean | Partial<FleetPolicy>;
  /**
   * Admission control (docs/token-budget.md): the provider's enqueued-token limit per model (`"*"`: any other
   * model), and optionally how many batches of the model may be enqueued at once. A submission's parts wait
   * until their tokens fit. Unset: no admission control, parts are created at once.
   */
  tokenBudgets?: Record<string, TokenBudgetLimit>;
}

export interface TokenBudgetLimit {
  /** Enqueued tokens the organisation may have across its batches of this model. */
  enqueuedTokens: number;
  /** Batches of this model in flight at once (optional). */
  maxBatches?: number;
}

/** The budget that applies to `model` on this profile, if any (an exact entry, else `"*"`). */
export function tokenBudgetFor(profile: ProviderProfile, model: string | null): TokenBudgetLimit | null {
  const budgets = profile.tokenBudgets;
  if (!budgets || model === null) return null;
  return budgets[model] ?? budgets['*'] ?? null;
}

/**
 * Provider calls a second when a profile sets none: conservative (36,000 calls an hour), yet enough for fleet
 * polling of 10,000 batches (its list calls go at half the budget, 100 pages in 20 s) plus retrieves and cancels.
 */
export const DEFAULT_RATE_LIMIT_PER_SECOND = 10;

export const BUILTIN_PROFILES: readonly ProviderProfile[] = [
  { name: 'openai', baseURL: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', kind: 'openai' },
  {
    name: 'dashscope',
    baseURL: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
    apiKeyEnv: 'DASHSCOPE_API_KEY',
    kind: 'dashscope',
  },
];

export type ClientFactory = (profile: ProviderProfile, apiKey: string) => OpenAI;

// Temporal owns retries: the SDK's own retries would hide attempts and delay classification.
const defaultClientFactory: ClientFactory = (p, apiKey) =>
  new OpenAI({ apiKey, baseURL: p.baseURL, maxRetries: 0, timeout: p.timeoutMs ?? 30_000 });

/**
 * Resolves profile names to `openai` clients; clients are cached per profile. The keys it reads are
 * remembered for redaction, so a provider that echoes one cannot put it into a failure message.
 */
export class ProviderRegistry {
  private readonly profiles = new Map<string, ProviderProfile>();
  private readonly clients = new Map<string, OpenAI>();

  constructor(
    profiles: readonly ProviderProfile[],
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly createClient: ClientFactory = defaultClientFactory,
  ) {
    for (const p of profiles) {
      this.profiles.set(p.name, p);
      rememberSecret(env[p.apiKeyEnv]);
    }
  }

  names(): string[] {
    return [...this.profiles.keys()];
  }

  profile(name: string): ProviderProfile {
    const p = this.profiles.get(name);
    if (!p) {
      throw ApplicationFailure.nonRetryable(
        `Unknown provider profile '${name}': this worker knows ${this.names().join(', ') || 'none'}. ` +
          'Configure the profile on the worker (see README, "Providers").',
        ErrorTypes.unknownProvider,
      );
    }
    return p;
  }

  client(name: string): OpenAI {
    const cached = this.clients.get(name);
    if (cached) return cached;
    const p = this.profile(name);
    const apiKey = this.env[p.apiKeyEnv];
    if (!apiKey) {
      throw ApplicationFailure.nonRetryable(
        `Provider '${name}' needs an API key in the environment variable ${p.apiKeyEnv} of the worker process; it is not set.`,
        ErrorTypes.missingApiKey,
      );
    }
    // The environment may have changed since construction.
    rememberSecret(apiKey);
    const client = this.createClient(p, apiKey);
    this.clients.set(name, client);
    return client;
  }
}

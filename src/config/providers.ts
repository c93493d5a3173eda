import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BUILTIN_PROFILES, type ProviderProfile } from '../../activities/providers';

const profileSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, - and _'),
  baseURL: z.url(),
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name, e.g. MY_PROVIDER_API_KEY'),
  kind: z.enum(['openai', 'dashscope', 'generic']).default('generic'),
  timeoutMs: z.number().int().positive().optional(),
  /** Allows a built-in's name or key variable with another baseURL (see `checkBuiltinReuse`). */
  override: z.boolean().optional(),
  webhookSecretEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name, e.g. OPENAI_WEBHOOK_SECRET')
    .optional(),
  trackUnknown: z.boolean().optional(),
  tokenBudgets: z
    .record(
      z.string().min(1),
      z.object({
        enqueuedTokens: z.number().int().positive(),
        maxBatches: z.number().int().positive().optional(),
      }),
    )
    .optional(),
  /** Cluster-wide provider calls per second of this profile (docs/scale.md). */
  rateLimitPerSecond: z.number().positive().max(10_000).optional(),
  fleetPolling: z
    .union([
      z.boolean(),
      z
        .object({
          minIntervalSeconds: z.number().positive().optional(),
          maxIntervalSeconds: z.number().positive().optional(),
          progressEverySeconds: z.number().positive().optional(),
          maxPagesPerSweep: z.number().int().positive().max(1000).optional(),
          fullSweepEverySeconds: z.number().positive().optional(),
        })
        .strict(),
    ])
    .optional(),
});
const profilesSchema = z.array(
  profileSchema
    // The API key is no signing secret: naming it would let anyone holding the key forge webhooks.
    .refine((p) => p.webhookSecretEnv === undefined || p.webhookSecretEnv !== p.apiKeyEnv, {
      message: 'must name another variable than apiKeyEnv (the signing secret is not the API key)',
      path: ['webhookSecretEnv'],
    })
    .refine((p) => p.trackUnknown !== true || p.webhookSecretEnv !== undefined, {
      message: 'needs webhookSecretEnv (only webhooks can report batches nobody tracks)',
      path: ['trackUnknown'],
    })
    // The poller would refuse them at its start; said here, at the worker's start, naming the field.
    .refine((p) => fleetIntervalsInOrder(p.fleetPolling), {
      message:
        'minIntervalSeconds must not exceed maxIntervalSeconds, nor fullSweepEverySeconds progressEverySeconds',
      path: ['fleetPolling'],
    }),
);

function fleetIntervalsInOrder(f: z.infer<typeof profileSchema>['fleetPolling']): boolean {
  if (typeof f !== 'object') return true;
  const inOrder = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || a <= b;
  return (
    inOrder(f.minIntervalSeconds, f.maxIntervalSeconds) &&
    inOrder(f.fullSweepEverySeconds, f.progressEverySeconds)
  );
}

export class ConfigError extends Error {}

/**
 * Provider profiles: the built-ins (openai, dashscope), then those from BATCHKEEPER_PROVIDERS (JSON) or the
 * file named by BATCHKEEPER_PROVIDERS_FILE; a configured profile with a built-in's name replaces it, but only
 * at the built-in's baseURL unless it says `"override": true` (see `checkBuiltinReuse`).
 * Profiles carry the *name* of the key's env var: keys never enter config files, inputs or history.
 */
export function loadProviderProfiles(env: NodeJS.ProcessEnv = process.env): ProviderProfile[] {
  const byName = new Map<string, ProviderProfile>(BUILTIN_PROFILES.map((p) => [p.name, { ...p }]));
  const sources: { label: string; text: string }[] = [];
  if (env.BATCHKEEPER_PROVIDERS_FILE) {
    let text: string;
    try {
      text = readFileSync(env.BATCHKEEPER_PROVIDERS_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read BATCHKEEPER_PROVIDERS_FILE=${env.BATCHKEEPER_PROVIDERS_FILE}: ${(err as Error).message}`,
      );
    }
    sources.push({ label: `file ${env.BATCHKEEPER_PROVIDERS_FILE}`, text });
  }
  if (env.BATCHKEEPER_PROVIDERS)
    sources.push({ label: 'BATCHKEEPER_PROVIDERS', text: env.BATCHKEEPER_PROVIDERS });
  for (const { label, text } of sources) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${label} is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = profilesSchema.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new ConfigError(
        `${label}: provider profile ${first.path.join('.')}: ${first.message} ` +
          '(expected [{"name":"my-provider","baseURL":"https://.../v1","apiKeyEnv":"MY_PROVIDER_API_KEY"}])',
      );
    }
    for (const { override, ...profile } of parsed.data) {
      if (!override) checkBuiltinReuse(profile, label);
      byName.set(profile.name, profile);
    }
  }
  return [...byName.values()];
}

/**
 * A profile that takes a built-in's name (`openai`) or its key variable (`OPENAI_API_KEY`) but points elsewhere
 * would send a real provider key to that host: an emulator, a proxy, a typo. Refused unless the profile says
 * `"override": true`; the same baseURL (a changed timeout, kind or key variable) is fine.
 */
function checkBuiltinReuse(profile: ProviderProfile, label: string): void {
  for (const builtin of BUILTIN_PROFILES) {
    const sameName = profile.name === builtin.name;
    if (!sameName && profile.apiKeyEnv !== builtin.apiKeyEnv) continue;
    if (sameBaseURL(profile.baseURL, builtin.baseURL)) continue;
    const what = sameName
      ? `reuses the built-in name '${builtin.name}'`
      : `uses ${builtin.apiKeyEnv}, the key of the built-in '${builtin.name}',`;
    throw new ConfigError(
      `${label}: provider profile '${profile.name}' ${what} with baseURL ${displayURL(profile.baseURL)} ` +
        `instead of ${builtin.baseURL}: ` +
        (sameName ? 'rename it' : 'give it its own key variable') +
        `, or add "override": true to that profile if ${builtin.apiKeyEnv} should really go there`,
    );
  }
}

/** Trailing slashes and the case of scheme and host do not make another endpoint. */
function sameBaseURL(a: string, b: string): boolean {
  const norm = (u: string) => new URL(u).href.replace(/\/+$/, '');
  return norm(a) === norm(b);
}

/** A baseURL may carry credentials (`https://user:pass@host`); the error line must not. */
function displayURL(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.href;
}

export interface ProfileKeyStatus {
  profile: ProviderProfile;
  hasKey: boolean;
}

export function keyStatus(
  profiles: ProviderProfile[],
  env: NodeJS.ProcessEnv = process.env,
): ProfileKeyStatus[] {
  return profiles.map((profile) => ({ profile, hasKey: Boolean(env[profile.apiKeyEnv]) }));
}

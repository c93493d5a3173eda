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
});
const profilesSchema = z.array(profileSchema);

export class ConfigError extends Error {}

/**
 * Provider profiles: the built-ins (openai, dashscope), then those from BATCHKEEPER_PROVIDERS (JSON) or the
 * file named by BATCHKEEPER_PROVIDERS_FILE; a configured profile with a built-in's name replaces it.
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
    for (const p of parsed.data) byName.set(p.name, p);
  }
  return [...byName.values()];
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

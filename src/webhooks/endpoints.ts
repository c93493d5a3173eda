import type { ProviderProfile } from '../../activities/providers';
import { ConfigError, loadProviderProfiles } from '../config/providers';

/** One `POST /webhooks/<profile>` route: the profile's signing secret, read from this process's environment. */
export interface WebhookEndpoint {
  profile: string;
  secret: string;
  trackUnknown: boolean;
}

/**
 * The endpoints of every profile with `webhookSecretEnv`. A profile that names a variable which is unset or empty
 * is a configuration error rather than a missing route: the provider would otherwise retry into 404s for days.
 */
export function webhookEndpoints(
  profiles: readonly ProviderProfile[],
  env: NodeJS.ProcessEnv,
): WebhookEndpoint[] {
  const endpoints: WebhookEndpoint[] = [];
  for (const p of profiles) {
    if (!p.webhookSecretEnv) continue;
    const secret = env[p.webhookSecretEnv]?.trim();
    if (!secret) {
      throw new ConfigError(
        `provider profile '${p.name}' names webhookSecretEnv ${p.webhookSecretEnv}, which is not set in the ` +
          "environment of this process: set it to the endpoint's signing secret (whsec_...)",
      );
    }
    endpoints.push({ profile: p.name, secret, trackUnknown: p.trackUnknown === true });
  }
  return endpoints;
}

/** Profiles from BATCHKEEPER_PROVIDERS(_FILE) as the worker reads them, reduced to their webhook endpoints. */
export function loadWebhookEndpoints(env: NodeJS.ProcessEnv = process.env): WebhookEndpoint[] {
  const endpoints = webhookEndpoints(loadProviderProfiles(env), env);
  if (endpoints.length === 0) {
    throw new ConfigError(
      'no provider profile has webhooks configured: add "webhookSecretEnv" to a profile in BATCHKEEPER_PROVIDERS ' +
        '(see docs/webhooks.md)',
    );
  }
  return endpoints;
}

import { existsSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { ClientConfigError, TemporalConnectError } from './errors';

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export interface ConnectOptions {
  /** host:port; overrides TEMPORAL_ADDRESS and the config file. */
  address?: string;
  /** Overrides TEMPORAL_NAMESPACE and the config file. */
  namespace?: string;
  /** Profile of the Temporal config file (TEMPORAL_PROFILE otherwise, then `default`). */
  profile?: string;
  /** Path of a Temporal TOML config file (TEMPORAL_CONFIG_FILE otherwise, then the standard location). */
  envConfigFile?: string;
  /** Environment to read instead of process.env. */
  env?: Record<string, string | undefined>;
  connectTimeoutMs?: number;
}

export interface ConnectedClient {
  client: Client;
  close(): Promise<void>;
  namespace: string;
  address: string;
}

export interface ResolvedConnectConfig {
  address: string;
  namespace: string;
  connectionOptions: ConnectionOptions;
  /** Whether an API key is configured; the key itself never leaves connectionOptions. */
  usesApiKey: boolean;
}

/**
 * Settings in the standard Temporal order (environment over config-file profile), then explicit options
 * over both, so TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS* and Temporal
 * Cloud profiles work as they do for the `temporal` CLI.
 */
export function resolveConnectConfig(opts: ConnectOptions = {}): ResolvedConnectConfig {
  const env = definedEntries(opts.env ?? process.env);
  if (opts.envConfigFile !== undefined && !existsSync(opts.envConfigFile)) {
    // envconfig treats a missing file as "no file": an explicit path deserves an error instead.
    throw new ClientConfigError(`Temporal config file not found: ${opts.envConfigFile}`);
  }
  let loaded;
  try {
    loaded = loadClientConnectConfig({
      profile: opts.profile,
      configSource: opts.envConfigFile !== undefined ? { path: opts.envConfigFile } : undefined,
      overrideEnvVars: env,
    });
  } catch (err) {
    throw new ClientConfigError(`cannot load Temporal client config: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const address =
    nonEmpty(opts.address) ?? nonEmpty(loaded.connectionOptions.address) ?? DEFAULT_TEMPORAL_ADDRESS;
  const namespace = nonEmpty(opts.namespace) ?? nonEmpty(loaded.namespace) ?? DEFAULT_TEMPORAL_NAMESPACE;
  const { apiKey, tls, metadata } = loaded.connectionOptions;
  const connectionOptions: ConnectionOptions = {
    address,
    tls,
    apiKey: nonEmpty(apiKey),
    metadata,
    connectTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
  return { address, namespace, connectionOptions, usesApiKey: connectionOptions.apiKey !== undefined };
}

export async function connectClient(opts: ConnectOptions = {}): Promise<ConnectedClient> {
  const config = resolveConnectConfig(opts);
  const { address, namespace } = config;
  let connection: Connection;
  try {
    connection = await Connection.connect(config.connectionOptions);
  } catch (err) {
    const secret =
      typeof config.connectionOptions.apiKey === 'string' ? config.connectionOptions.apiKey : undefined;
    const reason = redact(firstLine((err as Error)?.message ?? String(err)), secret);
    throw new TemporalConnectError(
      `cannot reach Temporal at ${address} (${reason}) — start one with \`batchkeeper dev\` or set TEMPORAL_ADDRESS` +
        (config.usesApiKey ? ' / TEMPORAL_API_KEY' : ''),
      address,
      namespace,
      { cause: err },
    );
  }
  const client = new Client({ connection, namespace });
  return { client, namespace, address, close: () => connection.close() };
}

function definedEntries(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim() || 'no answer';
}

function redact(s: string, secret: string | undefined): string {
  return secret ? s.split(secret).join('***') : s;
}

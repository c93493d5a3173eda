import type { LoggerOptions } from 'pino';
import type { FaultConfig } from './faults';
import { PROFILES } from './profiles';
import { KEY_ECHOES, type KeyEcho } from './unauthorized';
import type { ProfileName, Timing } from './types';

export interface EmulatorOptions {
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 'openai'. */
  profile?: ProfileName;
  /** Bearer key accepted on the API routes. Default 'sk-emulator'. */
  apiKey?: string;
  /** How the 401 for a wrong key quotes it: 'none' (default), 'masked' (like OpenAI) or 'full'. */
  keyEcho?: KeyEcho;
  /** Real-time factor of the real clock (10 = ten emulated seconds per wall second). Default 1. */
  speed?: number;
  /** 'manual' only moves through advance(); default 'real'. */
  clock?: 'real' | 'manual';
  /** Unix seconds the clock starts at (default: now). */
  startTime?: number;
  /** Seconds a batch stays `validating`. Default 2. */
  validatingSeconds?: number;
  /** Seconds each request takes to run (requests run one after another). Default 0.1. */
  requestSeconds?: number;
  /** Alternative to requestSeconds (requestSeconds = 1 / requestsPerSecond). */
  requestsPerSecond?: number;
  /** Seconds a batch stays `finalizing`. Default 2. */
  finalizingSeconds?: number;
  /** Seconds a batch stays `cancelling` before `cancelled`. Default 3. */
  cancellingSeconds?: number;
  /** Share (0..1) of requests that fail into the error file, chosen by a hash of custom_id. Default 0. */
  failureRate?: number;
  /** Requests per input file. Default 50000. */
  maxLines?: number;
  /** Input file size accepted by batch validation. Default 200 MB (openai) / 500 MB (dashscope). */
  maxFileBytes?: number;
  /** Bytes per input line. Default none (openai) / 6 MB (dashscope). */
  maxLineBytes?: number;
  /** Largest upload accepted by POST /files (HTTP 413 above). Default 1 GiB. */
  maxUploadBytes?: number;
  /**
   * `404`, `405` or `501`: GET /files answers that status, like a compatible provider without file listing.
   * Default `true` (listing works).
   */
  fileListing?: true | 404 | 405 | 501;
  /** Where files live on disk. Default: a fresh temp dir, removed on close. */
  dataDir?: string;
  /** Faults active from the start. */
  faults?: FaultConfig;
  /** Fastify/pino logger: false (default), true or pino options. */
  logger?: boolean | LoggerOptions;
  /**
   * Where to POST a signed Standard Webhook (`batch.completed`, `batch.failed`, `batch.expired`,
   * `batch.cancelled`) when a batch reaches that status. Default none: no webhooks, nothing else changes.
   */
  webhookUrls?: string | string[];
  /** Signing secret, `whsec_<base64>`; required with webhookUrls. */
  webhookSecret?: string;
  /** Attempts per event and URL, the first included. Default 8. */
  webhookMaxAttempts?: number;
  /** Wait before the first retry, doubled for each further one, capped by webhookMaxRetryDelayMs. Default 1000. */
  webhookRetryDelayMs?: number;
  /** Default 30000. */
  webhookMaxRetryDelayMs?: number;
  /**
   * The provider's enqueued-token limit: per model (`{"gpt-4o-mini": 90000}`) or one number for every model.
   * A batch whose input tokens (OpenAI's tokenizer on the openai profile), added to the in-flight batches' of
   * its model, pass it fails at validation with `token_limit_exceeded`, like OpenAI's. Default none.
   */
  enqueuedTokenLimit?: number | Record<string, number>;
}

export interface ResolvedWebhooks {
  urls: string[];
  secret: string;
  maxAttempts: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
}

export interface ResolvedOptions {
  port: number;
  host: string;
  profile: ProfileName;
  apiKey: string;
  keyEcho: KeyEcho;
  speed: number;
  clock: 'real' | 'manual';
  startTime: number | undefined;
  timing: Timing;
  failureRate: number;
  maxLines: number;
  maxFileBytes: number;
  maxLineBytes: number | undefined;
  maxUploadBytes: number;
  fileListing: true | 404 | 405 | 501;
  dataDir: string | undefined;
  faults: FaultConfig;
  logger: boolean | LoggerOptions;
  webhooks: ResolvedWebhooks | null;
  enqueuedTokenLimit: number | Record<string, number> | undefined;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${x}`);
  return x;
}

export function resolveOptions(o: EmulatorOptions = {}): ResolvedOptions {
  const profile = o.profile ?? 'openai';
  if (!(profile in PROFILES)) throw new RangeError(`unknown profile '${String(profile)}'`);
  const p = PROFILES[profile];
  let requestSeconds = nonNegative('requestSeconds', o.requestSeconds, 0.1);
  if (o.requestsPerSecond !== undefined) {
    if (!(o.requestsPerSecond > 0)) throw new RangeError('requestsPerSecond must be > 0');
    requestSeconds = 1 / o.requestsPerSecond;
  }
  const failureRate = nonNegative('failureRate', o.failureRate, 0);
  if (failureRate > 1) throw new RangeError('failureRate must be within 0..1');
  return {
    port: o.port ?? 0,
    host: o.host ?? '127.0.0.1',
    profile,
    apiKey: o.apiKey ?? 'sk-emulator',
    keyEcho: resolveKeyEcho(o.keyEcho),
    speed: o.speed ?? 1,
    clock: o.clock ?? 'real',
    startTime: o.startTime,
    timing: {
      validatingSeconds: nonNegative('validatingSeconds', o.validatingSeconds, 2),
      requestSeconds,
      finalizingSeconds: nonNegative('finalizingSeconds', o.finalizingSeconds, 2),
      cancellingSeconds: nonNegative('cancellingSeconds', o.cancellingSeconds, 3),
    },
    failureRate,
    maxLines: o.maxLines ?? 50000,
    maxFileBytes: o.maxFileBytes ?? p.defaultMaxFileBytes,
    maxLineBytes: o.maxLineBytes ?? p.defaultMaxLineBytes,
    maxUploadBytes: o.maxUploadBytes ?? 1024 * 1024 * 1024,
    fileListing: resolveFileListing(o.fileListing),
    dataDir: o.dataDir,
    faults: o.faults ?? {},
    logger: o.logger ?? false,
    webhooks: resolveWebhooks(o),
    enqueuedTokenLimit: resolveTokenLimit(o.enqueuedTokenLimit),
  };
}

function resolveWebhooks(o: EmulatorOptions): ResolvedWebhooks | null {
  const urls = o.webhookUrls === undefined ? [] : [o.webhookUrls].flat();
  if (urls.length === 0) return null;
  for (const url of urls) {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new RangeError(`webhookUrls: not a URL: ${url}`);
    }
    if (protocol !== 'http:' && protocol !== 'https:')
      throw new RangeError(`webhookUrls: not http(s): ${url}`);
  }
  const secret = o.webhookSecret ?? '';
  // Standard Webhooks keys are base64 after the prefix; the message never quotes the secret.
  if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret) || Buffer.from(secret.slice(6), 'base64').length < 16) {
    throw new RangeError('webhookSecret must be whsec_ followed by at least 16 base64-encoded bytes');
  }
  const maxAttempts = o.webhookMaxAttempts ?? 8;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new RangeError(`webhookMaxAttempts must be an integer >= 1, got ${maxAttempts}`);
  return {
    urls,
    secret,
    maxAttempts,
    retryDelayMs: nonNegative('webhookRetryDelayMs', o.webhookRetryDelayMs, 1000),
    maxRetryDelayMs: nonNegative('webhookMaxRetryDelayMs', o.webhookMaxRetryDelayMs, 30_000),
  };
}

function resolveFileListing(v: EmulatorOptions['fileListing']): ResolvedOptions['fileListing'] {
  if (v === undefined || v === true || v === 404 || v === 405 || v === 501) return v ?? true;
  throw new RangeError(`fileListing must be true, 404, 405 or 501, got ${JSON.stringify(v)}`);
}

function resolveKeyEcho(v: EmulatorOptions['keyEcho']): KeyEcho {
  if (v === undefined || KEY_ECHOES.includes(v)) return v ?? 'none';
  throw new RangeError(`keyEcho must be one of ${KEY_ECHOES.join(', ')}, got ${JSON.stringify(v)}`);
}

function resolveTokenLimit(v: EmulatorOptions['enqueuedTokenLimit']): ResolvedOptions['enqueuedTokenLimit'] {
  if (v === undefined) return undefined;
  const values = typeof v === 'number' ? [v] : Object.values(v);
  for (const x of values)
    if (!Number.isInteger(x) || x <= 0)
      throw new RangeError(`enqueuedTokenLimit must be positive integers, got ${JSON.stringify(v)}`);
  return v;
}

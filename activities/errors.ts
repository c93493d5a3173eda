import { ApplicationFailure } from '@temporalio/common';
import { APIConnectionError, APIError } from 'openai';
import { ErrorTypes } from '../workflows/shared/error-types';
import { redactSecrets } from './redact';

/** Fallback wait for a 429 without a usable Retry-After header. */
const DEFAULT_RATE_LIMIT_DELAY_MS = 30_000;
/** Never let a provider header park a workflow for hours. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

export interface CallContext {
  provider: string;
  operation: string;
  batchId?: string;
  apiKeyEnv?: string;
}

/**
 * Turns whatever the `openai` client threw into an ApplicationFailure whose type and retryability
 * the workflow's retry policy acts on. Messages name the provider and operation, never the key: what the
 * provider or the network said passes through `redactSecrets` first.
 */
export function classifyProviderError(err: unknown, ctx: CallContext): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const what = `${ctx.operation}${ctx.batchId ? ` ${ctx.batchId}` : ''} on provider '${ctx.provider}'`;
  const profileKey = ctx.apiKeyEnv ? [process.env[ctx.apiKeyEnv]] : [];
  if (err instanceof APIConnectionError) {
    return ApplicationFailure.retryable(
      `${what} could not reach the provider: ${redactSecrets(err.message, profileKey)}`,
      ErrorTypes.network,
    );
  }
  const apiError = asApiError(err);
  if (apiError && typeof apiError.status === 'number') {
    const status = apiError.status;
    const detail = providerMessage(apiError, profileKey);
    if (status === 401 || status === 403) {
      const keyHint = ctx.apiKeyEnv ? ` Check the key in ${ctx.apiKeyEnv} on the worker.` : '';
      return ApplicationFailure.nonRetryable(
        `${what} was refused (${status}): ${sentence(detail)}${keyHint}`,
        ErrorTypes.auth,
        { status },
      );
    }
    if (status === 404) {
      return ApplicationFailure.nonRetryable(
        `${what}: not found (404): ${sentence(detail)} Check the batch id and that it belongs to this provider account.`,
        ErrorTypes.notFound,
        { status },
      );
    }
    if (status === 429) {
      const delay = retryAfterMs(apiError.headers) ?? DEFAULT_RATE_LIMIT_DELAY_MS;
      return ApplicationFailure.create({
        message: `${what} was rate limited (429): ${detail}; retrying in ${Math.round(delay / 1000)} s`,
        type: ErrorTypes.rateLimited,
        nonRetryable: false,
        nextRetryDelay: delay,
        details: [{ status, retryAfterMs: delay }],
      });
    }
    if (status >= 500) {
      return ApplicationFailure.retryable(
        `${what} failed at the provider (${status}): ${detail}`,
        ErrorTypes.server,
        {
          status,
        },
      );
    }
    // 408/409 are transient by HTTP's definition; other 4xx mean the request itself is wrong.
    if (status === 408 || status === 409) {
      return ApplicationFailure.retryable(`${what} failed (${status}): ${detail}`, ErrorTypes.server, {
        status,
      });
    }
    return ApplicationFailure.nonRetryable(
      `${what} was rejected (${status}): ${detail}`,
      ErrorTypes.badRequest,
      {
        status,
      },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return ApplicationFailure.retryable(
    `${what} failed: ${redactSecrets(message, profileKey)}`,
    ErrorTypes.network,
  );
}

/** `instanceof` narrows to APIError<any, ...>; pin the SDK's declared defaults instead. */
export function asApiError(err: unknown): APIError | null {
  return err instanceof APIError ? (err as APIError) : null;
}

/** The provider's own message, on one line and with anything key-shaped redacted. */
function providerMessage(err: APIError, secrets: readonly (string | undefined)[] = []): string {
  const body: unknown = err.error;
  const fromBody = body && typeof body === 'object' ? (body as Record<string, unknown>).message : undefined;
  const message = typeof fromBody === 'string' ? fromBody : err.message;
  return redactSecrets(message.replace(/\s+/g, ' ').trim(), secrets) || 'no message';
}

/** Ends the provider's message with one full stop, whether it brought its own or not. */
function sentence(message: string): string {
  return `${message.replace(/[.\s]+$/, '')}.`;
}

/** Retry-After as seconds or an HTTP date; `retry-after-ms` (sent by OpenAI) wins when present. */
export function retryAfterMs(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return clamp(ms);
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return clamp(seconds * 1000);
  const date = Date.parse(raw);
  if (Number.isFinite(date)) return clamp(Math.max(0, date - now));
  return undefined;
}

function clamp(ms: number): number {
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, Math.round(ms)));
}

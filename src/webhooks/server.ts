import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import type { ProviderEvent } from '../../workflows/contract';
import { RecentDeliveries } from './dedup';
import type { WebhookEndpoint } from './endpoints';
import type { ForwardResult } from './forward';
import { DeliveryVerifier } from './verify';

/** Provider events are a few hundred bytes; anything near this is not one. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

export interface WebhookServerOptions {
  endpoints: readonly WebhookEndpoint[];
  forwarder: { forward(event: ProviderEvent, trackUnknown: boolean): Promise<ForwardResult> };
  /** pino; the signing secrets and headers are never logged. */
  logger: FastifyBaseLogger;
  bodyLimit?: number;
  /** Seconds a delivery's `webhook-timestamp` may be off from now, either way. Default 300. */
  toleranceSeconds?: number;
  recent?: RecentDeliveries<ForwardResult>;
}

/** What a 2xx answer says happened to the delivery (also in the log line). */
export type DeliveryOutcome = ForwardResult | 'duplicate' | 'ignored';

interface Route {
  endpoint: WebhookEndpoint;
  verifier: DeliveryVerifier;
}

/**
 * `POST /webhooks/<profile>`: verify, then forward batch events to their workflows. Every rejection (unknown
 * profile, missing header, bad signature, stale or future timestamp, oversize or malformed body) is a 4xx and
 * signals nothing; a Temporal that does not answer is a 503, so the provider retries later.
 */
export function buildWebhookServer(opts: WebhookServerOptions): FastifyInstance {
  const routes = new Map<string, Route>(
    opts.endpoints.map((e) => [
      e.profile,
      { endpoint: e, verifier: new DeliveryVerifier(e.secret, opts.toleranceSeconds) },
    ]),
  );
  const recent = opts.recent ?? new RecentDeliveries<ForwardResult>();
  const log = opts.logger;
  const app = Fastify({
    loggerInstance: log,
    // One line per delivery, written below, instead of two per request without the event's ids.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
  });

  // The signature covers the bytes as sent: keep the body a string whatever its content type says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.get('/healthz', async () => ({ status: 'ok', profiles: [...routes.keys()] }));

  app.post<{ Params: { profile: string } }>('/webhooks/:profile', async (req, reply) => {
    const route = routes.get(req.params.profile);
    if (!route) return reject(reply, 404, 'no webhook endpoint for this profile');
    const profile = route.endpoint.profile;
    const raw = typeof req.body === 'string' ? req.body : '';
    const verified = await route.verifier.verify(raw, req.headers);
    if (!verified.ok) {
      log.warn({ profile, status: verified.status, reason: verified.reason }, 'webhook delivery rejected');
      return reject(reply, verified.status, verified.reason);
    }
    const { webhookId, event } = verified;
    const batchId = event.data?.id;
    const fields = { profile, webhookId, type: event.type, batchId };
    if (!event.type.startsWith('batch.')) return accept(reply, log, fields, 'ignored');
    if (batchId === undefined) return reject(reply, 400, 'a batch event without data.id');

    const key = `${profile}\n${webhookId}`;
    if (recent.seen(key)) return accept(reply, log, fields, 'duplicate');
    const providerEvent: ProviderEvent = {
      webhookId,
      type: event.type,
      createdAt: event.created_at,
      batchId,
      provider: profile,
    };
    let result: ForwardResult;
    try {
      result = await recent.once(key, () =>
        opts.forwarder.forward(providerEvent, route.endpoint.trackUnknown),
      );
    } catch (err) {
      log.error(
        { ...fields, err: errorMessage(err) },
        'webhook not forwarded: Temporal did not take the signal',
      );
      return reject(reply, 503, 'not forwarded yet, retry later');
    }
    return accept(reply, log, fields, result);
  });

  return app;
}

function accept(
  reply: FastifyReply,
  log: FastifyBaseLogger,
  fields: Record<string, unknown>,
  outcome: DeliveryOutcome,
): FastifyReply {
  log.info({ ...fields, outcome }, `webhook ${outcome}`);
  return reply.code(200).send({ status: outcome });
}

function reject(reply: FastifyReply, status: number, reason: string): FastifyReply {
  return reply.code(status).send({ error: reason });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

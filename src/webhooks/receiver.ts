import type { Client } from '@temporalio/client';
import type { FastifyBaseLogger } from 'fastify';
import type { WebhookEndpoint } from './endpoints';
import { EventForwarder } from './forward';
import { buildWebhookServer } from './server';

export const DEFAULT_WEBHOOKS_PORT = 8088;

export interface ReceiverOptions {
  client: Client;
  endpoints: readonly WebhookEndpoint[];
  taskQueue: string;
  logger: FastifyBaseLogger;
  /** Default 8088; 0 picks a free one. */
  port?: number;
  /** Default 127.0.0.1: the receiver belongs behind a TLS-terminating proxy, not on an open interface. */
  host?: string;
  toleranceSeconds?: number;
  bodyLimit?: number;
  forwardTimeoutMs?: number;
}

export interface RunningReceiver {
  /** e.g. http://127.0.0.1:8088 */
  origin: string;
  port: number;
  close(): Promise<void>;
}

/** The webhook server listening, forwarding through `client` (which the caller owns and closes). */
export async function startWebhookReceiver(o: ReceiverOptions): Promise<RunningReceiver> {
  const forwarder = new EventForwarder(o.client, { taskQueue: o.taskQueue, timeoutMs: o.forwardTimeoutMs });
  const app = buildWebhookServer({
    endpoints: o.endpoints,
    forwarder,
    logger: o.logger,
    toleranceSeconds: o.toleranceSeconds,
    bodyLimit: o.bodyLimit,
  });
  const host = o.host ?? '127.0.0.1';
  await app.listen({ port: o.port ?? DEFAULT_WEBHOOKS_PORT, host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? DEFAULT_WEBHOOKS_PORT);
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    origin: `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`,
    port,
    close: () => app.close(),
  };
}

import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { registerAdminRoutes } from './admin';
import type { EmulatorContext } from './context';
import { ApiError, sendApiError, toApiError } from './errors';
import type { FaultDecision } from './faults';
import { registerBatchRoutes } from './routes-batches';
import { registerFileRoutes } from './routes-files';
import type { CallLogEntry } from './types';
import { unauthorizedFor } from './unauthorized';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route name for the call log and fault targeting, e.g. 'batches.cancel'. */
    route?: string;
  }
}

const callEntries = new WeakMap<FastifyRequest, CallLogEntry>();
const dropAfter = new WeakSet<FastifyRequest>();
const lateDelay = new WeakMap<FastifyRequest, number>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1];
}

function dropSocket(req: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  req.raw.socket.destroy();
}

/** Auth, call log and faults for the provider API; admin routes are registered outside and skip all three. */
function apiPlugin(ctx: EmulatorContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', async (req, reply) => {
      const entry: CallLogEntry = {
        method: req.method,
        path: req.url.split('?')[0],
        route: req.routeOptions.config.route,
        at: Date.now(),
        clockAt: ctx.clock.now(),
        status: 0,
      };
      ctx.calls.push(entry);
      callEntries.set(req, entry);
      const key = bearer(req);
      if (key !== ctx.opts.apiKey) return sendApiError(reply, unauthorizedFor(key, ctx.opts.keyEcho));
      const d: FaultDecision = ctx.faults.decide(entry.route);
      if (d.kind === 'none' && d.lateEffect) {
        lateDelay.set(req, d.delayMs);
        return;
      }
      if (d.delayMs > 0) await sleep(d.delayMs);
      if (d.kind === 'drop') {
        if (d.afterHandler) {
          dropAfter.add(req);
          return;
        }
        dropSocket(req, reply);
        return reply;
      }
      if (d.kind === 'error') return sendApiError(reply, d.error);
    });
    // The request was read whole; the effect comes late, whether the client still waits or not.
    app.addHook('preHandler', async (req) => {
      const ms = lateDelay.get(req);
      if (ms !== undefined) await sleep(ms);
    });
    // "Applied but the answer was lost": the handler has run (e.g. the cancel took effect), the client never hears.
    app.addHook('onSend', async (req, _reply, payload) => {
      if (dropAfter.has(req)) req.raw.socket.destroy();
      return payload;
    });
    app.addHook('onResponse', async (req, reply) => {
      const entry = callEntries.get(req);
      if (entry && !dropAfter.has(req)) entry.status = reply.statusCode;
    });
    registerFileRoutes(app, ctx);
    registerBatchRoutes(app, ctx);
  };
}

export async function buildServer(ctx: EmulatorContext): Promise<FastifyInstance> {
  const app = Fastify({
    logger: ctx.opts.logger,
    // Keep-alive sockets from SDK clients must not hold close() open.
    forceCloseConnections: true,
  });
  await app.register(multipart, {
    limits: { fileSize: ctx.opts.maxUploadBytes, files: 1, fields: 10 },
  });
  app.setErrorHandler((err, _req, reply) => {
    const apiErr = toApiError(err);
    if (apiErr.status >= 500) app.log.error(err);
    return sendApiError(reply, apiErr);
  });
  app.setNotFoundHandler((req, reply) =>
    sendApiError(reply, new ApiError(404, `Invalid URL (${req.method} ${req.url.split('?')[0]})`, null)),
  );
  for (const prefix of ['/v1', '/compatible-mode/v1']) await app.register(apiPlugin(ctx), { prefix });
  await app.register(async (admin) => registerAdminRoutes(admin, ctx), { prefix: '/admin' });
  return app;
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { EmulatorContext } from './context';
import { faultConfigSchema } from './faults';
import { parseQuery } from './paging';

const advanceBody = z.object({ seconds: z.number().finite().min(0) });

/** Test/ops controls: no provider auth, never faulted, not in the call log. */
export function registerAdminRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.post('/advance', async (req) => {
    const { seconds } = parseQuery(advanceBody, req.body ?? {});
    await ctx.advance(seconds);
    return { now: ctx.clock.now() };
  });

  app.get('/faults', async () => ctx.faults.get());

  app.post('/faults', async (req) => {
    ctx.faults.set(parseQuery(faultConfigSchema, req.body ?? {}));
    return ctx.faults.get();
  });

  app.get('/calls', async () => ({ object: 'list', data: ctx.calls }));

  app.delete('/calls', async () => {
    const deleted = ctx.calls.length;
    ctx.calls.length = 0;
    return { deleted };
  });

  // Every file ever registered, deleted ones too (`deletedAt`), with the sha256 of what it served.
  app.get('/files', async () => ({
    object: 'list',
    data: ctx.files.history().map(({ path: _path, ...f }) => f),
  }));

  app.get('/webhooks', async () => ({ object: 'list', data: ctx.webhooks?.deliveries() ?? [] }));

  app.get('/health', async () => ({
    status: 'ok',
    profile: ctx.profile.name,
    clock: ctx.clock.kind,
    now: ctx.clock.now(),
    batches: [...ctx.batches.all()].length,
    files: ctx.files.list().length,
  }));
}

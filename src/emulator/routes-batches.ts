import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { batchObject } from './batch-object';
import type { EmulatorContext } from './context';
import { ApiError, badRequest, notFound } from './errors';
import { settle } from './lifecycle';
import { parseQuery } from './paging';
import { newId } from './store';
import { TERMINAL, type BatchRec, type ValidationResult } from './types';
import { startValidation } from './validate-batch';

const createBody = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.string().min(1),
  completion_window: z.string().min(1),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});

const idParams = z.object({ id: z.string() });

/** Accepts `a,b` or repeated keys. */
const csv = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) =>
    v === undefined ? undefined : (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).filter(Boolean),
  );

/** DashScope's `yyyyMMddHHmmss`, read as UTC. */
const compactTime = z
  .string()
  .regex(/^\d{14}$/, 'expected yyyyMMddHHmmss')
  .optional()
  .transform((s) =>
    s === undefined
      ? undefined
      : Date.UTC(
          +s.slice(0, 4),
          +s.slice(4, 6) - 1,
          +s.slice(6, 8),
          +s.slice(8, 10),
          +s.slice(10, 12),
          +s.slice(12, 14),
        ) / 1000,
  );

const listQuery = z.object({
  after: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  ds_name: z.string().optional(),
  input_file_ids: csv,
  status: csv,
  create_after: compactTime,
  create_before: compactTime,
});

export function registerBatchRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const { batches, files, clock, profile, opts } = ctx;
  const getBatch = (id: string): BatchRec => {
    const b = batches.get(id);
    if (!b) throw notFound(`No batch found with id '${id}'.`, profile.notFoundCode);
    return b;
  };
  const view = async (rec: BatchRec) => batchObject(rec, await settle(rec, clock, files, batches), profile);

  app.post('/batches', { config: { route: 'batches.create' } }, async (req) => {
    const body = parseQuery(createBody, req.body ?? {});
    const file = files.get(body.input_file_id);
    if (!file) throw notFound(`No such File object: ${body.input_file_id}`, profile.notFoundCode);
    if (file.purpose !== 'batch')
      throw badRequest(`File ${file.id} has purpose '${file.purpose}', expected 'batch'.`, 'input_file_id');
    if (!profile.endpoints.includes(body.endpoint))
      throw badRequest(
        `Invalid endpoint '${body.endpoint}'. Supported: ${profile.endpoints.join(', ')}.`,
        'endpoint',
        'invalid_value',
      );
    const windowSeconds = profile.parseWindow(body.completion_window);
    if (body.metadata) profile.checkMetadata(body.metadata);
    const now = clock.now();
    const rec: BatchRec = {
      id: newId('batch_'),
      seq: batches.nextSeq(),
      endpoint: body.endpoint,
      inputFileId: file.id,
      inputPath: file.path,
      completionWindow: body.completion_window,
      metadata: body.metadata ?? null,
      createdAt: now,
      expiresAt: now + windowSeconds,
      timing: { ...opts.timing },
      failureRate: opts.failureRate,
      validation: Promise.resolve<ValidationResult>({ ok: false, errors: [] }),
    };
    // Validation runs in the background, like the providers' `validating` phase; it never rejects.
    rec.validation = startValidation(rec, opts, batches);
    // On disk before the client hears of it: a restarted emulator still has every batch it announced.
    await batches.save(rec);
    batches.add(rec);
    return view(rec);
  });

  app.get('/batches/:id', { config: { route: 'batches.retrieve' } }, async (req) =>
    view(getBatch(parseQuery(idParams, req.params).id)),
  );

  app.get('/batches', { config: { route: 'batches.list' } }, async (req) => {
    const q = parseQuery(listQuery, req.query);
    const ds = profile.name === 'dashscope';
    let afterSeq: number | undefined;
    if (q.after !== undefined) {
      // By sequence number, so a cursor item that the filters drop still works.
      const afterRec = batches.get(q.after);
      if (!afterRec) throw badRequest(`Invalid 'after': no object with id '${q.after}'.`, 'after');
      afterSeq = afterRec.seq;
    }
    // Only the batches on the page (and one more, for has_more) are brought up to the clock: a fleet sweep
    // pages through 10,000 batches 100 at a time, which must not cost 10,000 settles a page.
    const data: Record<string, unknown>[] = [];
    let hasMore = false;
    for (const rec of batches.newestFirst(afterSeq)) {
      if (ds) {
        if (q.ds_name !== undefined && !(rec.metadata?.ds_name ?? '').includes(q.ds_name)) continue;
        if (q.input_file_ids && !q.input_file_ids.includes(rec.inputFileId)) continue;
        if (q.create_after !== undefined && rec.createdAt < q.create_after) continue;
        if (q.create_before !== undefined && rec.createdAt > q.create_before) continue;
      }
      const obj = await view(rec);
      if (ds && q.status && !q.status.includes(String(obj.status))) continue;
      if (data.length === q.limit) {
        hasMore = true;
        break;
      }
      data.push(obj);
    }
    return {
      object: 'list',
      data,
      first_id: (data[0]?.id as string | undefined) ?? null,
      last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
      has_more: hasMore,
    };
  });

  app.post('/batches/:id/cancel', { config: { route: 'batches.cancel' } }, async (req) => {
    const rec = getBatch(parseQuery(idParams, req.params).id);
    const s = await settle(rec, clock, files, batches);
    if (TERMINAL.has(s.status))
      throw new ApiError(
        400,
        `Cannot cancel a batch with status '${s.status}'.`,
        null,
        'invalid_request_error',
      );
    // A second cancel while cancelling changes nothing: the first one's timestamps stand.
    if (rec.cancelRequestedAt === undefined) {
      const at = clock.now();
      await batches.save(rec, { cancelRequestedAt: at });
      rec.cancelRequestedAt = at;
    }
    return view(rec);
  });
}

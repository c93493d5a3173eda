import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { EmulatorContext } from './context';
import { ApiError, badRequest, notFound } from './errors';
import { fileObject } from './file-object';
import { parseQuery, pageOf } from './paging';
import { newId } from './store';

const idParams = z.object({ id: z.string() });

const listQuery = z.object({
  after: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(10000).default(10000),
  purpose: z.string().optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
});

export function registerFileRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const { files } = ctx;
  const getFile = (id: string) => {
    const f = files.get(id);
    if (!f) throw notFound(`No such File object: ${id}`, ctx.profile.notFoundCode);
    return f;
  };

  // Streams the upload straight to disk: a 200 MB file never sits in memory.
  app.post('/files', { config: { route: 'files.create' } }, async (req) => {
    if (!req.isMultipart())
      throw badRequest('Expected a multipart/form-data body with `file` and `purpose`.');
    const id = newId('file-');
    const path = files.pathFor(id);
    let purpose: string | undefined;
    let filename: string | undefined;
    let sha256: string | undefined;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file' || filename !== undefined) {
            part.file.resume();
            continue;
          }
          filename = part.filename || 'upload.jsonl';
          const hash = createHash('sha256');
          const tap = new Transform({
            transform(chunk: Buffer, _enc, done) {
              hash.update(chunk);
              done(null, chunk);
            },
          });
          await pipeline(part.file, tap, createWriteStream(path));
          sha256 = hash.digest('hex');
        } else if (part.fieldname === 'purpose') {
          purpose = String(part.value);
        }
      }
      if (filename === undefined) throw badRequest('Missing required parameter: file.', 'file');
      if (purpose === undefined) throw badRequest('Missing required parameter: purpose.', 'purpose');
      if (purpose !== 'batch')
        throw badRequest(`Invalid purpose '${purpose}': the emulator only accepts 'batch'.`, 'purpose');
    } catch (e) {
      await rm(path, { force: true });
      throw e;
    }
    return fileObject(await files.register(id, filename, purpose, ctx.clock.now(), sha256));
  });

  app.get('/files', { config: { route: 'files.list' } }, async (req) => {
    if (ctx.opts.fileListing !== true) throw noFileListing(ctx.opts.fileListing, req.url.split('?')[0]);
    const q = parseQuery(listQuery, req.query);
    let list = files.list();
    if (q.purpose) list = list.filter((f) => f.purpose === q.purpose);
    if (q.order === 'asc') list.reverse();
    return pageOf(list, q.after, q.limit, fileObject, files.get(q.after ?? ''), q.order === 'desc');
  });

  app.get('/files/:id', { config: { route: 'files.retrieve' } }, async (req) =>
    fileObject(getFile(parseQuery(idParams, req.params).id)),
  );

  app.get('/files/:id/content', { config: { route: 'files.content' } }, async (req, reply) => {
    const f = getFile(parseQuery(idParams, req.params).id);
    return reply
      .type('application/octet-stream')
      .header('content-length', f.bytes)
      .header('content-disposition', `attachment; filename="${f.filename.replace(/"/g, '')}"`)
      .send(createReadStream(f.path));
  });

  app.delete('/files/:id', { config: { route: 'files.delete' } }, async (req) => {
    const { id } = parseQuery(idParams, req.params);
    getFile(id);
    const inUse = [...ctx.batches.all()].some((b) => b.inputFileId === id && !b.final);
    await files.delete(id, inUse, ctx.clock.now());
    return { id, object: 'file', deleted: true };
  });
}

/** What a gateway without the route says: 404 like any unknown URL, 405 or 501 from stricter servers. */
function noFileListing(status: 404 | 405 | 501, path: string): ApiError {
  if (status === 404) return new ApiError(404, `Invalid URL (GET ${path})`, null);
  return new ApiError(
    status,
    status === 405 ? 'Method Not Allowed' : 'Not Implemented',
    null,
    'invalid_request_error',
  );
}

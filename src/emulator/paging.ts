import type { z } from 'zod';
import { badRequest } from './errors';

/** Validates query/params with zod and turns the first issue into a 400 that names the parameter. */
export function parseQuery<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue.path.join('.') || null;
  throw badRequest(`Invalid ${param ?? 'request'}: ${issue.message}`, param);
}

/**
 * Cursor page over a list already in display order. `after` is located by sequence number of its record
 * (afterRec), so a cursor item that the filters dropped still works.
 */
export function pageOf<T extends { id: string; seq: number }>(
  list: T[],
  after: string | undefined,
  limit: number,
  toObject: (x: T) => unknown,
  afterRec: { seq: number } | undefined,
  desc = true,
): { object: 'list'; data: unknown[]; first_id: string | null; last_id: string | null; has_more: boolean } {
  let rest = list;
  if (after !== undefined) {
    if (!afterRec) throw badRequest(`Invalid 'after': no object with id '${after}'.`, 'after');
    rest = list.filter((x) => (desc ? x.seq < afterRec.seq : x.seq > afterRec.seq));
  }
  const page = rest.slice(0, limit);
  return {
    object: 'list',
    data: page.map(toObject),
    first_id: page[0]?.id ?? null,
    last_id: page[page.length - 1]?.id ?? null,
    has_more: rest.length > page.length,
  };
}

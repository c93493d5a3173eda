import { LEDGER_COLUMNS } from './types';

/**
 * Columns a later write of the same batch may leave null without erasing what the row had: a retry whose
 * results download failed has no tokens (so no cost), one that could not name the model has none, and a
 * cancel record, provider time or endpoint never becomes unknown again. A non-null value still replaces the
 * old one.
 */
export const KEEP_WHEN_NULL: ReadonlySet<string> = new Set([
  'endpoint',
  'model',
  'input_tokens',
  'output_tokens',
  'total_tokens',
  'estimated_cost_usd',
  'cancel_requested_at',
  'cancel_reason',
  'cancel_requested_by',
  'created_at',
  'finished_at',
  'discrepancies',
]);

/**
 * The SET list of the upsert, the same rule for both stores. Columns that are never null (status, the five
 * counts, provider, recorded_at, workflow_id) take the newer write's values as a whole: a terminal
 * batch's counts do not change, so a second write repeats them, and never mixing two writes keeps
 * billed + failed + not_run = total.
 */
export function upsertAssignments(current: string): string {
  return LEDGER_COLUMNS.map(([, c]) => c)
    .filter((c) => c !== 'batch_id')
    .map((c) => `${c} = ${KEEP_WHEN_NULL.has(c) ? `coalesce(${newer(c)}, ${current}.${c})` : newer(c)}`)
    .join(', ');
}

// The endpoint is NOT NULL, so a provider that omits it writes '': unknown, like a null elsewhere.
const newer = (c: string): string => (c === 'endpoint' ? `nullif(excluded.${c}, '')` : `excluded.${c}`);

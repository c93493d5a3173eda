import type { CancelRecord, CancelSource } from '../contract';

const MAX_REASON_CHARS = 1000;
const MAX_REQUESTED_BY_CHARS = 200;

/**
 * The record of a first cancel request. Signals can come from any language's client: take what is usable from
 * the payload and never throw (a throwing signal handler would fail the workflow task).
 */
export function newCancelRecord(request: unknown, source: CancelSource, tooLate: boolean): CancelRecord {
  const r = request && typeof request === 'object' ? (request as Record<string, unknown>) : {};
  return {
    requestedAt: new Date().toISOString(),
    reason: boundedString(r.reason, MAX_REASON_CHARS),
    requestedBy: boundedString(r.requestedBy, MAX_REQUESTED_BY_CHARS),
    source,
    duplicates: 0,
    tooLate,
    providerCalledAt: null,
    providerOutcome: null,
  };
}

function boundedString(value: unknown, max: number): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  return value.length > max ? value.slice(0, max) : value;
}

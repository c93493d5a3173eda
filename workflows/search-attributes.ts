// Typed search attributes: what the Web UI's list filters on (e.g. BatchStatus = "in_progress").
// The worker registers them at start where the server allows it (dev server, self-hosted); on Temporal Cloud
// they are created once per namespace (see README). Names are part of the public contract.
import {
  SearchAttributeType,
  defineSearchAttributeKey,
  type SearchAttributeUpdatePair,
} from '@temporalio/common';
import type { BatchSnapshot, CancelRecord } from './messages';

export const BatchIdKey = defineSearchAttributeKey('BatchId', SearchAttributeType.KEYWORD);
export const BatchStatusKey = defineSearchAttributeKey('BatchStatus', SearchAttributeType.KEYWORD);
export const BatchProviderKey = defineSearchAttributeKey('BatchProvider', SearchAttributeType.KEYWORD);
export const BatchEndpointKey = defineSearchAttributeKey('BatchEndpoint', SearchAttributeType.KEYWORD);
export const BatchRequestsTotalKey = defineSearchAttributeKey('BatchRequestsTotal', SearchAttributeType.INT);
export const BatchRequestsCompletedKey = defineSearchAttributeKey(
  'BatchRequestsCompleted',
  SearchAttributeType.INT,
);
export const BatchRequestsFailedKey = defineSearchAttributeKey(
  'BatchRequestsFailed',
  SearchAttributeType.INT,
);
export const BatchCancelRequestedKey = defineSearchAttributeKey(
  'BatchCancelRequested',
  SearchAttributeType.BOOL,
);

/** Name -> server type name, for registration (operator service, `temporal server start-dev --search-attribute`). */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int' | 'Bool'> = {
  BatchId: 'Keyword',
  BatchStatus: 'Keyword',
  BatchProvider: 'Keyword',
  BatchEndpoint: 'Keyword',
  BatchRequestsTotal: 'Int',
  BatchRequestsCompleted: 'Int',
  BatchRequestsFailed: 'Int',
  BatchCancelRequested: 'Bool',
};

export type SearchAttributeValues = Record<string, string | number | boolean>;

export function searchAttributeValues(
  batchId: string,
  provider: string,
  snapshot: BatchSnapshot | null,
  cancel: CancelRecord | null,
): SearchAttributeValues {
  const values: SearchAttributeValues = {
    BatchId: batchId,
    BatchProvider: provider,
    BatchCancelRequested: cancel !== null,
  };
  if (snapshot) {
    values.BatchStatus = snapshot.status;
    values.BatchEndpoint = snapshot.endpoint;
    values.BatchRequestsTotal = snapshot.requestCounts.total;
    values.BatchRequestsCompleted = snapshot.requestCounts.completed;
    values.BatchRequestsFailed = snapshot.requestCounts.failed;
  }
  return values;
}

const KEYS = {
  BatchId: BatchIdKey,
  BatchStatus: BatchStatusKey,
  BatchProvider: BatchProviderKey,
  BatchEndpoint: BatchEndpointKey,
  BatchRequestsTotal: BatchRequestsTotalKey,
  BatchRequestsCompleted: BatchRequestsCompletedKey,
  BatchRequestsFailed: BatchRequestsFailedKey,
  BatchCancelRequested: BatchCancelRequestedKey,
} as const;

/** Only what changed since the last upsert: each upsert is a history event. */
export function changedSearchAttributes(
  previous: SearchAttributeValues,
  next: SearchAttributeValues,
): SearchAttributeUpdatePair[] {
  const updates: SearchAttributeUpdatePair[] = [];
  for (const [name, value] of Object.entries(next)) {
    if (previous[name] === value) continue;
    const key = KEYS[name as keyof typeof KEYS];
    updates.push({ key, value } as SearchAttributeUpdatePair);
  }
  return updates;
}

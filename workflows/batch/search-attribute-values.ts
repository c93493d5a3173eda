// The Batch* search attributes of a batch workflow (names: ../contract/search-attributes.ts), upserted only
// when they change: each upsert is a history event.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_KEYS, type BatchSnapshot, type CancelRecord } from '../contract';

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

/** Only what changed since the last upsert: each upsert is a history event. */
export function changedSearchAttributes(
  previous: SearchAttributeValues,
  next: SearchAttributeValues,
): SearchAttributeUpdatePair[] {
  const updates: SearchAttributeUpdatePair[] = [];
  for (const [name, value] of Object.entries(next)) {
    if (previous[name] === value) continue;
    const key = SEARCH_ATTRIBUTE_KEYS[name as keyof typeof SEARCH_ATTRIBUTE_KEYS];
    updates.push({ key, value } as SearchAttributeUpdatePair);
  }
  return updates;
}

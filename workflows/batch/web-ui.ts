// Mirrors a batch's state where people look: the Web UI's current details (no history cost) and the Batch*
// search attributes (upserted only when they change: each upsert is a history event).
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { changedSearchAttributes, type SearchAttributeValues } from './search-attribute-values';
import type { BatchTracker } from './tracker';

export function webUiPublisher(searchAttributes: boolean): (batch: BatchTracker) => void {
  let published: SearchAttributeValues = {};
  return (batch) => {
    setCurrentDetails(batch.details());
    if (!searchAttributes) return;
    const next = batch.searchAttributes();
    const updates = changedSearchAttributes(published, next);
    if (updates.length > 0) upsertSearchAttributes(updates);
    published = next;
  };
}

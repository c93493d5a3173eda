// Typed search attributes: what the Web UI's list filters on (e.g. BatchStatus = "in_progress").
// The worker registers them at start where the server allows it (dev server, self-hosted); on Temporal Cloud
// they are created once per namespace (see README). Names are part of the public contract.
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

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

/** Each name's typed key, for upserts and list filters. */
export const SEARCH_ATTRIBUTE_KEYS = {
  BatchId: BatchIdKey,
  BatchStatus: BatchStatusKey,
  BatchProvider: BatchProviderKey,
  BatchEndpoint: BatchEndpointKey,
  BatchRequestsTotal: BatchRequestsTotalKey,
  BatchRequestsCompleted: BatchRequestsCompletedKey,
  BatchRequestsFailed: BatchRequestsFailedKey,
  BatchCancelRequested: BatchCancelRequestedKey,
} as const;

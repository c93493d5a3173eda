import { ApplicationFailure } from '@temporalio/common';
import type { BatchRef, CancelBatchResult } from '../workflows/activity-types';
import { ErrorTypes } from '../workflows/activity-types';
import { isTerminal, type BatchSnapshot } from '../workflows/messages';
import { asApiError, classifyProviderError } from './errors';
import { UnknownBatchStatusError, toSnapshot } from './normalize';
import type { ProviderRegistry } from './providers';

export async function retrieveBatch(registry: ProviderRegistry, ref: BatchRef): Promise<BatchSnapshot> {
  const client = registry.client(ref.provider);
  let raw;
  try {
    raw = await client.batches.retrieve(ref.batchId);
  } catch (err) {
    throw classifyProviderError(err, context(registry, ref, 'retrieve batch'));
  }
  return snapshotOrFail(raw, ref);
}

/**
 * Idempotent: a batch that is already cancelling, cancelled or otherwise terminal is returned as it is,
 * so a retried activity or a second cancel never turns into a failure.
 */
export async function cancelBatch(registry: ProviderRegistry, ref: BatchRef): Promise<CancelBatchResult> {
  const client = registry.client(ref.provider);
  try {
    const raw = await client.batches.cancel(ref.batchId);
    return { outcome: 'cancel-requested', snapshot: snapshotOrFail(raw, ref) };
  } catch (err) {
    // Providers refuse to cancel a batch that finished meanwhile (a 4xx other than auth/404/429):
    // look at the batch; a terminal or cancelling one is the answer, not an error.
    if (isRefusal(asApiError(err)?.status)) {
      const snapshot = await retrieveBatch(registry, ref);
      if (isTerminal(snapshot.status)) return { outcome: 'already-terminal', snapshot };
      if (snapshot.status === 'cancelling') return { outcome: 'already-cancelling', snapshot };
    }
    throw classifyProviderError(err, context(registry, ref, 'cancel batch'));
  }
}

function isRefusal(status: number | undefined): boolean {
  return status === 400 || status === 409 || status === 422;
}

function snapshotOrFail(raw: Parameters<typeof toSnapshot>[0], ref: BatchRef): BatchSnapshot {
  try {
    return toSnapshot(raw);
  } catch (err) {
    if (err instanceof UnknownBatchStatusError) {
      // Retryable: a provider rolling out a new status should not end tracking of a paid batch.
      throw ApplicationFailure.retryable(`${err.message} (provider '${ref.provider}')`, ErrorTypes.server);
    }
    throw err;
  }
}

function context(registry: ProviderRegistry, ref: BatchRef, operation: string) {
  let apiKeyEnv: string | undefined;
  try {
    apiKeyEnv = registry.profile(ref.provider).apiKeyEnv;
  } catch {
    apiKeyEnv = undefined;
  }
  return { provider: ref.provider, operation, batchId: ref.batchId, apiKeyEnv };
}

import { ApplicationFailure } from '@temporalio/common';
import { isTerminal, type BatchSnapshot } from '../workflows/contract';
import type { BatchRef, CancelBatchResult } from '../workflows/shared/activity-types';
import { ErrorTypes } from '../workflows/shared/error-types';
import { crashPoint } from './crash-points';
import { asApiError, classifyProviderError } from './errors';
import { toSnapshot } from './normalize';
import type { ProviderRegistry } from './providers';

/**
 * Ids no provider call can carry: the `openai` SDK refuses `.` and `..` path segments (and an empty id would
 * address the collection). Without this they failed as "network" errors and were retried forever.
 */
export function checkBatchId(batchId: string): void {
  const reason =
    typeof batchId !== 'string' || batchId.trim() === ''
      ? 'it is empty'
      : batchId === '.' || batchId === '..'
        ? 'it is a relative path segment'
        : // eslint-disable-next-line no-control-regex
          /[\u0000-\u001f\u007f]/.test(batchId)
          ? 'it contains control characters'
          : null;
  if (reason !== null) {
    throw ApplicationFailure.nonRetryable(
      `Invalid batch id ${JSON.stringify(batchId)}: ${reason}. Pass the provider's batch id (e.g. batch_abc123).`,
      ErrorTypes.invalidBatchId,
    );
  }
}

export async function retrieveBatch(registry: ProviderRegistry, ref: BatchRef): Promise<BatchSnapshot> {
  checkBatchId(ref.batchId);
  const client = registry.client(ref.provider);
  let raw;
  try {
    raw = await client.batches.retrieve(ref.batchId);
  } catch (err) {
    throw classifyProviderError(err, context(registry, ref, 'retrieve batch'));
  }
  return withPush(registry, ref, toSnapshot(raw));
}

/**
 * Idempotent: a batch that is already cancelling, cancelled or otherwise terminal is returned as it is,
 * so a retried activity or a second cancel never turns into a failure.
 */
export async function cancelBatch(registry: ProviderRegistry, ref: BatchRef): Promise<CancelBatchResult> {
  checkBatchId(ref.batchId);
  const client = registry.client(ref.provider);
  try {
    const raw = await client.batches.cancel(ref.batchId);
    crashPoint('after-cancel');
    return { outcome: 'cancel-requested', snapshot: withPush(registry, ref, toSnapshot(raw)) };
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

/** Marks a snapshot of a provider whose webhooks this worker's profile receives (see BatchSnapshot.pushed). */
export function withPush(registry: ProviderRegistry, ref: BatchRef, snapshot: BatchSnapshot): BatchSnapshot {
  return registry.profile(ref.provider).webhookSecretEnv ? { ...snapshot, pushed: true } : snapshot;
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

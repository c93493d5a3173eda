// Lost access to the provider (key, profile, a batch no longer found) after a batch was seen: tracking pauses.
import { ActivityFailure, ApplicationFailure, metricMeter } from '@temporalio/workflow';
import { ErrorTypes } from '../shared/error-types';

/**
 * Once a batch has been seen it runs and bills at the provider whatever happens to our key or profile, so these
 * failures pause tracking (retried at ACCESS_RETRY_SECONDS, shown in status) instead of ending it. Before the first
 * successful look they still fail the workflow: a wrong batch id or profile at `track` time.
 */
const ACCESS_LOSS_TYPES: readonly string[] = [
  ErrorTypes.auth,
  ErrorTypes.missingApiKey,
  ErrorTypes.unknownProvider,
  ErrorTypes.notFound,
];
export const ACCESS_RETRY_SECONDS = 600;
export const PATCH_KEEP_TRACKING_WITHOUT_ACCESS = 'keep-tracking-without-provider-access';

/** The error type when a provider call failed for lost access (key, profile, 404), else null. */
export function accessLossType(err: unknown): string | null {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof ApplicationFailure)) return null;
  const type = err.cause.type ?? null;
  return type !== null && ACCESS_LOSS_TYPES.includes(type) ? type : null;
}

/** Created inside the workflow (the meter belongs to the running workflow context). */
export function accessMetrics() {
  return {
    lost: metricMeter.createCounter(
      'batchkeeper_provider_access_denied',
      'calls',
      'Provider calls of a tracked batch refused for its key or profile (401/403, missing key, unknown profile, 404)',
    ),
    restored: metricMeter.createCounter(
      'batchkeeper_provider_access_restored',
      'batches',
      'Batches whose tracking resumed after the provider refused access',
    ),
  };
}

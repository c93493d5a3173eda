import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from './activity-types';

// Provider calls are cheap and a batch keeps running (and billing) at the provider whatever we do, so transient
// failures retry without an attempt limit; config, auth and input errors fail fast instead.
const RETRY: ActivityOptions['retry'] = {
  initialInterval: '5 seconds',
  backoffCoefficient: 2,
  maximumInterval: '5 minutes',
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

/** Single provider calls (retrieve, cancel) and the ledger write. */
export const CALL_OPTIONS: ActivityOptions = { startToCloseTimeout: '1 minute', retry: RETRY };

/** Streams of up to hundreds of MB (upload, download): long, but heartbeating, so a dead worker shows in minutes. */
export const FILE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '60 minutes',
  heartbeatTimeout: '2 minutes',
  retry: RETRY,
};

/**
 * Creating a batch (upload, lookup, create): a file call whose retries back off to 30 s at most, not 5 min. A batch
 * an earlier attempt created is running (and billing) without a workflow until a retry adopts it; under a fault
 * storm (docs/faults.md, fault-reset-after) the 5-minute cap left such a batch unwatched, and uncancellable, for
 * about 10 minutes. Retry policies are not part of replay: a change of commands it is not.
 */
export const CREATE_OPTIONS: ActivityOptions = {
  ...FILE_OPTIONS,
  retry: { ...RETRY, maximumInterval: '30 seconds' },
};

/** Reading a local file through (validation, resubmission files). */
export const LOCAL_FILE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: RETRY,
};

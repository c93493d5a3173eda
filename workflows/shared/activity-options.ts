// How the workflows call activities: timeouts and retries by kind of call, and which queue a provider call goes to.
import { patched, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import { providerTaskQueue } from '../contract';
import { NON_RETRYABLE_ERROR_TYPES } from './error-types';

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

/** Patch id (docs/upgrading.md): runs started before it make every provider call on the workflow's own queue. */
export const PATCH_PROVIDER_TASK_QUEUE = 'provider-task-queue';

/**
 * Provider calls of runs that took the patch, once the batch was seen, go to the profile's rate-limited queue and
 * wait there for a worker: every worker that runs this code polls the provider queue of each profile it knows, so
 * a call waits only while no worker knowing the profile runs, which the workflow's own queue could not help with
 * either. Never bypassing the queue is what keeps the budget a budget at 10,000 batches (a wait shows as a pending
 * activity, and the tracker's calls, not its batch, pause).
 */
export async function onProviderQueue<T>(
  provider: string,
  options: ActivityOptions,
  call: (options: ActivityOptions) => Promise<T>,
  seenBefore: boolean,
): Promise<T> {
  // The first look stays on the workflow's own queue: a wrong profile or batch id then fails at once, as it always
  // did, instead of waiting for a provider queue no worker polls. One call a batch, outside the budget.
  if (!seenBefore || !patched(PATCH_PROVIDER_TASK_QUEUE)) return call(options);
  return call({ ...options, taskQueue: providerTaskQueue(workflowInfo().taskQueue, provider) });
}

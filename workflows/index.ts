// Entry point of the workflow bundle: every workflow the worker registers.
export { batchLifecycle } from './batch/batch-lifecycle';
export { submitBatch } from './submission/submit-batch';
export { tokenBudget } from './budget/token-budget';
export { fleetPoller } from './fleet/fleet-poller';

// Entry point of the workflow bundle: every workflow the worker registers.
export { batchLifecycle } from './batch-lifecycle';
export { submitBatch } from './submit-batch';
export { tokenBudget } from './token-budget';
export { fleetPoller } from './fleet-poller';

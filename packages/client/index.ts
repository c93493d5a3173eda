// @batchkeeper/client: batchkeeper's public contract (workflow types and ids, inputs, results, signals, queries,
// updates, task queues, search attributes) and the client that uses it. Nothing here loads the worker.
export * from '../../workflows/contract';
export * from '../../src/client';

// batchkeeper's contract: everything a client (the CLI, webhooks, other services' code) needs to start, signal,
// query and read the workflows, and nothing of how they run. It imports nothing else from workflows/.
export * from './batch';
export * from './budget';
export * from './fleet';
export * from './search-attributes';
export * from './submission';
export * from './task-queues';

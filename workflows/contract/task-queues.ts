// Task queues: where the workflows run, and where each provider profile's calls run under its rate limit.

export const DEFAULT_TASK_QUEUE = 'batchkeeper';

/**
 * The task queue of a profile's provider calls, next to the workflows' queue: `batchkeeper-provider-openai` for
 * the default queue. Its activities run under the profile's cluster-wide rate limit (see docs/scale.md).
 */
export function providerTaskQueue(workflowTaskQueue: string, provider: string): string {
  return `${workflowTaskQueue}-provider-${provider}`;
}

// One rate budget per provider profile, across all workers: every profile's provider calls run on a task queue of
// their own (`<queue>-provider-<profile>`), polled by an activity-only worker that asks the Temporal server for
// that queue's activity rate limit. The server enforces it for the queue as a whole, so 10 workers on 3 machines
// together start at most `rateLimitPerSecond` provider activities a second (docs/scale.md).
import { Worker, type NativeConnection } from '@temporalio/worker';
import { expectActivityOnly } from './logger';
import { DEFAULT_RATE_LIMIT_PER_SECOND, type ProviderProfile } from '../../activities/providers';
import { providerTaskQueue } from '../../workflows/contract';
import type { WorkerActivities } from '../../workflows/shared/activity-types';

export interface ProviderQueueOptions {
  connection: NativeConnection;
  namespace: string;
  /** The workflows' task queue: provider queues are named after it. */
  taskQueue: string;
  providers: readonly ProviderProfile[];
  activities: WorkerActivities;
  maxConcurrentActivities: number;
}

export interface ProviderQueue {
  provider: string;
  taskQueue: string;
  ratePerSecond: number;
  worker: Worker;
}

/**
 * An activity-only worker per profile, keys or not: a profile without its key then fails its calls with the
 * error naming the variable, instead of leaving them unclaimed on a queue nobody polls.
 */
export async function createProviderQueueWorkers(o: ProviderQueueOptions): Promise<ProviderQueue[]> {
  const queues: ProviderQueue[] = [];
  for (const profile of o.providers) {
    const taskQueue = providerTaskQueue(o.taskQueue, profile.name);
    const ratePerSecond = profile.rateLimitPerSecond ?? DEFAULT_RATE_LIMIT_PER_SECOND;
    expectActivityOnly(taskQueue);
    const worker = await Worker.create({
      connection: o.connection,
      namespace: o.namespace,
      taskQueue,
      activities: o.activities,
      // Server-side, for the whole queue (the last poller's value wins: give every worker the same config).
      maxTaskQueueActivitiesPerSecond: ratePerSecond,
      maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities,
      shutdownGraceTime: '20 seconds',
    });
    queues.push({ provider: profile.name, taskQueue, ratePerSecond, worker });
  }
  return queues;
}

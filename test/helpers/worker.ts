import { DefaultLogger, Runtime, Worker, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { BatchActivities } from '../../workflows/activity-types';
import { workflowBundle } from './workflow-bundle';

let runtimeInstalled = false;
/** Keep test output readable: only errors from the SDK (expected workflow failures log warnings). */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger((process.env.BK_TEST_LOG as LogLevel | undefined) ?? 'ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
}

let counter = 0;
export function uniqueTaskQueue(prefix = 'test'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Date.now()}`;
}

/** Runs fn while a worker with these activities polls a fresh task queue. */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  activities: BatchActivities,
  fn: (taskQueue: string) => Promise<T>,
): Promise<T> {
  quietRuntime();
  const taskQueue = uniqueTaskQueue();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  return worker.runUntil(fn(taskQueue));
}

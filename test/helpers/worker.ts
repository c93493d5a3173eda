import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  DefaultLogger,
  Runtime,
  Worker,
  makeTelemetryFilterString,
  type LogEntry,
  type LogLevel,
  type NativeConnection,
  type WorkerOptions,
} from '@temporalio/worker';
import { inspect } from 'node:util';
import { SERVED_PROFILES, type ServingActivities } from '../../activities';
import { providerTaskQueue } from '../../workflows/contract';
import type { WorkerActivities } from '../../workflows/shared/activity-types';
import { workflowBundle } from './workflow-bundle';

/**
 * Warnings known to mean nothing here, by their exact text. Each entry says why; nothing else is dropped.
 */
const KNOWN_NOISE: string[] = [
  // Core, once per worker: the Java time-skipping server does not advertise a capability of newer servers.
  'Temporal Server 1.16.0 or newer is required to guarantee that the latest heartbeat details are preserved',
];

/**
 * One line per warning (what, where, the error's message), so expected ones (a test that makes a workflow or an
 * activity fail logs "Workflow failed" / "Activity failed") do not bury the others; errors keep every detail.
 */
function testLogFunction(entry: LogEntry): void {
  const { level, message, meta } = entry;
  if (KNOWN_NOISE.some((n) => message.startsWith(n))) return;
  const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  if (level === 'ERROR' || !meta) {
    process.stderr.write(`${at} [${level}] ${message}${meta ? ' ' + inspect(meta) : ''}\n`);
    return;
  }
  const where = [meta.workflowType, meta.workflowId, meta.run_id, meta.activityType].filter(
    (v) => typeof v === 'string',
  );
  // Errors from the workflow sandbox are not instances of this realm's Error; core sends its failure as text.
  const error = meta.error as { name?: unknown; message?: unknown } | undefined;
  const why =
    error && typeof error.message === 'string'
      ? `${String(error.name)}: ${error.message}`
      : typeof meta.failure === 'string'
        ? meta.failure
        : '';
  process.stderr.write(
    `${at} [${level}] ${message} (${where.join(' ')}) ${why.split('\n')[0].slice(0, 300)}\n`,
  );
}

let runtimeInstalled = false;
/**
 * Warnings and errors from the SDK, its native core included, so that e.g. "workflow finished while a signal
 * handler was still running" is seen. BK_TEST_LOG=DEBUG shows more.
 */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.BK_TEST_LOG as LogLevel | undefined) ?? 'WARN';
  Runtime.install({
    logger: new DefaultLogger(level, testLogFunction),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} } },
  });
}

let counter = 0;
export function uniqueTaskQueue(prefix = 'test'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Date.now()}`;
}

/**
 * Runs fn while a worker with these activities polls a fresh task queue, or `options.taskQueue` (a worker that
 * takes over from one that stopped, as after a deploy). `options.worker` adds worker options, e.g.
 * `maxCachedWorkflows: 0` for a worker that stops while its workflows run (no sticky queue left behind), or
 * `workflowBundle` for another version's workflow code.
 */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  activities: WorkerActivities,
  fn: (taskQueue: string) => Promise<T>,
  options: { taskQueue?: string; worker?: Partial<WorkerOptions> } = {},
): Promise<T> {
  quietRuntime();
  const taskQueue = options.taskQueue ?? uniqueTaskQueue();
  const worker = await Worker.create({
    ...options.worker,
    connection: env.nativeConnection,
    taskQueue,
    // Another version's code (an upgrade test) may come in options.worker.
    workflowBundle: options.worker?.workflowBundle ?? (await workflowBundle()),
    activities,
  });
  const providers = await serveProviderQueues(env.nativeConnection, taskQueue, activities);
  try {
    return await worker.runUntil(fn(taskQueue));
  } finally {
    await providers.stop();
  }
}

/**
 * Provider calls after a batch's first look go to each profile's own queue (src/worker/provider-queues.ts): a test
 * worker serves them as the real worker does, or they wait there for a worker forever.
 */
export async function serveProviderQueues(
  connection: NativeConnection,
  taskQueue: string,
  activities: object,
): Promise<{ stop: () => Promise<void> }> {
  const workers = await Promise.all(
    ((activities as ServingActivities)[SERVED_PROFILES] ?? []).map((profile) =>
      Worker.create({ connection, taskQueue: providerTaskQueue(taskQueue, profile), activities }),
    ),
  );
  const running = workers.map((w) => w.run());
  return {
    stop: async () => {
      for (const w of workers) w.shutdown();
      await Promise.all(running);
    },
  };
}

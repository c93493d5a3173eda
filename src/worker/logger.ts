import pino from 'pino';
import { DefaultLogger, type LogLevel } from '@temporalio/worker';

export type Pino = pino.Logger;

export function createLogger(level: string, name = 'batchkeeper'): Pino {
  return pino({ name, level });
}

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** What the SDK's Worker logs at WARN when it runs without workflows (Worker.workflow$ in @temporalio/worker). */
export const NO_WORKFLOWS_WARNING = 'No workflows registered, not polling for workflow tasks';

// Per process, like the Runtime whose logger reads it.
const activityOnlyQueues = new Set<string>();

/**
 * Declares that the worker about to be created on `taskQueue` has no workflows by design, so the SDK's warning
 * about it (which reads like a misconfiguration) is not passed on. The SDK's worker options take no logger of
 * their own: the Runtime's logger, which every worker shares, tells the workers apart by their task queue.
 */
export function expectActivityOnly(taskQueue: string): void {
  activityOnlyQueues.add(taskQueue);
}

function expectedWarning(message: string, meta: Record<string, unknown> | undefined): boolean {
  return (
    message === NO_WORKFLOWS_WARNING &&
    typeof meta?.taskQueue === 'string' &&
    activityOnlyQueues.has(meta.taskQueue)
  );
}

/** Routes the Temporal SDK's logs (worker, workflows, activities) into the same structured stream. */
export function temporalLogger(logger: Pino, level: string): DefaultLogger {
  return new DefaultLogger(level.toUpperCase() as LogLevel, (entry) => {
    if (expectedWarning(entry.message, entry.meta)) return;
    logger[PINO_LEVEL[entry.level]](entry.meta ?? {}, entry.message);
  });
}

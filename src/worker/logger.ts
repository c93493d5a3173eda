import pino from 'pino';
import pretty from 'pino-pretty';
import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import { ConfigError } from '../config/providers';

export type Pino = pino.Logger;

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function createLogger(level: string, name = 'batchkeeper', format: LogFormat = 'json'): Pino {
  if (format === 'json') return pino({ name, level });
  // In this thread and synchronous, unlike pino's transport (a worker thread): the lines then keep their place
  // among what `dev` prints itself, and none is lost when the process exits.
  const stream = pretty({ sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' });
  return pino({ name, level }, stream);
}

/**
 * JSON unless asked otherwise (`flag`, then BATCHKEEPER_LOG_FORMAT) or a person reads the output (`interactive`):
 * log collectors (docker logs, Loki, CI) parse lines, people read the pretty form.
 */
export function chooseLogFormat(o: {
  flag?: string;
  env?: NodeJS.ProcessEnv;
  interactive: boolean;
}): LogFormat {
  const fromEnv = o.env?.BATCHKEEPER_LOG_FORMAT?.trim().toLowerCase();
  const asked = o.flag ?? (fromEnv || undefined);
  if (asked === undefined) return o.interactive ? 'pretty' : 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(asked)) {
    const source = o.flag === undefined ? 'BATCHKEEPER_LOG_FORMAT' : '--log-format';
    throw new ConfigError(`${source} must be one of ${LOG_FORMATS.join(', ')}; got '${asked}'`);
  }
  return asked as LogFormat;
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

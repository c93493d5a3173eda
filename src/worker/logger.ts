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

/** Routes the Temporal SDK's logs (worker, workflows, activities) into the same structured stream. */
export function temporalLogger(logger: Pino, level: string): DefaultLogger {
  return new DefaultLogger(level.toUpperCase() as LogLevel, (entry) => {
    logger[PINO_LEVEL[entry.level]](entry.meta ?? {}, entry.message);
  });
}

import { CommanderError } from 'commander';
import { NamespaceNotFoundError } from '@temporalio/common';
import { isGrpcServiceError } from '@temporalio/client';
import {
  BatchNotFoundError,
  BatchWorkflowClosedError,
  BatchWorkflowEndedError,
  ClientConfigError,
  TemporalConnectError,
  WaitTimeoutError,
} from '../client';
import { failureChain } from '../client/errors';
import { EXIT, type ExitCode } from './exit-codes';

export interface CliIo {
  /** Writes to stdout as is (callers add newlines). */
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is an interactive terminal (progress bars) or a pipe / file / test (plain lines). */
  isTTY: boolean;
  /** The stream a progress bar draws on when isTTY. */
  ttyStream?: NodeJS.WriteStream;
  env: Record<string, string | undefined>;
}

export function processIo(): CliIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
    ttyStream: process.stdout,
    env: process.env,
  };
}

/** An error the CLI reports as is, with its own exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.USAGE);

export function printJson(io: CliIo, value: unknown, pretty = true): void {
  io.out(JSON.stringify(value, null, pretty ? 2 : undefined) + '\n');
}

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CommanderError) return commanderExit(err);
  if (err instanceof TemporalConnectError || err instanceof ClientConfigError) return EXIT.NO_TEMPORAL;
  if (err instanceof NamespaceNotFoundError) return EXIT.NO_TEMPORAL;
  if (isUnavailable(err)) return EXIT.NO_TEMPORAL;
  if (err instanceof BatchNotFoundError) return EXIT.NOT_FOUND;
  if (err instanceof BatchWorkflowClosedError || err instanceof BatchWorkflowEndedError) return EXIT.FAILED;
  if (err instanceof WaitTimeoutError) return EXIT.FAILED;
  return EXIT.FAILED;
}

/** The one stderr line for an error: what went wrong and how to fix it, no stack. */
export function errorLine(err: unknown, context: { address?: string; namespace?: string } = {}): string {
  let message: string;
  if (err instanceof CommanderError) {
    message = err.message.replace(/^error:\s*/i, '') + ' (see `batchkeeper --help`)';
  } else if (err instanceof NamespaceNotFoundError) {
    message =
      `namespace ${err.namespace} not found at ${context.address ?? 'the Temporal server'}` +
      ' — pass --namespace or set TEMPORAL_NAMESPACE';
  } else if (isUnavailable(err)) {
    message =
      `cannot reach Temporal at ${context.address ?? 'the configured address'}` +
      ' — start it with `batchkeeper dev` or set TEMPORAL_ADDRESS';
  } else if (err instanceof Error) {
    // A failed workflow's own message is only "Workflow execution failed": the reason is down its causes.
    message = failureChain(err).join(': ');
  } else {
    message = String(err);
  }
  return `batchkeeper: ${oneLine(message)}\n`;
}

function commanderExit(err: CommanderError): ExitCode {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK;
  return EXIT.USAGE;
}

/** Errors commander already printed itself (help, version) need no further line. */
export function isSilentCommanderExit(err: unknown): boolean {
  return (
    err instanceof CommanderError &&
    ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)
  );
}

// gRPC status UNAVAILABLE; @grpc/grpc-js is not a direct dependency, so not imported for one number.
const GRPC_UNAVAILABLE = 14;

function isUnavailable(err: unknown): boolean {
  // The server went away between connecting and this call.
  const candidates = [err, (err as { cause?: unknown })?.cause];
  return candidates.some((e) => isGrpcServiceError(e) && (e.code as number) === GRPC_UNAVAILABLE);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

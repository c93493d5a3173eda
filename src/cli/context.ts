import type { Command } from 'commander';
import { DEFAULT_TASK_QUEUE } from '../../workflows/contract';
import { BatchkeeperClient, connectClient, type ConnectOptions, type ConnectedClient } from '../client';
import type { CliIo } from './output';

/** Options every command accepts (commander reads them before or after the command name). */
export interface GlobalOptions {
  address?: string;
  namespace?: string;
  taskQueue?: string;
  /** Not `--profile`: `emulator --profile` names a provider profile. */
  temporalProfile?: string;
  temporalConfig?: string;
  json?: boolean;
}

export type ClientFactory = (options: ConnectOptions) => Promise<ConnectedClient>;

export interface CliContext {
  io: CliIo;
  connect: ClientFactory;
  sleep: (ms: number) => Promise<void>;
  /** Between two status queries of `status --watch`. */
  watchIntervalMs: number;
  /** Set by a command that succeeded at running but reports a non-zero outcome (e.g. a failed batch). */
  exitCode: number;
  /** Where the current connection points, for error lines. */
  target: { address?: string; namespace?: string };
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** Connects for one command and always closes again, so the process can exit. */
export async function withBatchkeeper<T>(
  ctx: CliContext,
  cmd: Command,
  fn: (bk: BatchkeeperClient, g: GlobalOptions) => Promise<T>,
): Promise<T> {
  const g = globals(cmd);
  const connected = await connectFor(ctx, g);
  try {
    return await fn(
      new BatchkeeperClient(connected.client, { taskQueue: g.taskQueue ?? DEFAULT_TASK_QUEUE }),
      g,
    );
  } finally {
    await connected.close();
  }
}

/** Connects with the global flags (and the environment's Temporal profile); error lines name the target. */
export async function connectFor(ctx: CliContext, g: GlobalOptions): Promise<ConnectedClient> {
  ctx.target = { address: g.address, namespace: g.namespace };
  const connected = await ctx.connect({
    address: g.address,
    namespace: g.namespace,
    profile: g.temporalProfile,
    envConfigFile: g.temporalConfig,
    env: ctx.io.env,
  });
  ctx.target = { address: connected.address, namespace: connected.namespace };
  return connected;
}

export const defaultConnect: ClientFactory = connectClient;

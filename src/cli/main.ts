#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerBilling } from './commands/billing';
import { registerCancel } from './commands/cancel';
import { registerEmulator, type RunEmulator } from './commands/emulator';
import { registerList } from './commands/list';
import { registerProcesses } from './commands/processes';
import { registerStatus } from './commands/status';
import { registerSubmit } from './commands/submit';
import { registerTrack } from './commands/track';
import { registerWebhooks } from './commands/webhooks';
import { defaultConnect, type CliContext, type ClientFactory } from './context';
import { EXIT } from './exit-codes';
import { errorLine, exitCodeOf, isSilentCommanderExit, processIo, type CliIo } from './output';

export interface CliDeps {
  io?: Partial<CliIo>;
  /** How to reach Temporal; tests pass the test environment's client here. */
  connect?: ClientFactory;
  sleep?: (ms: number) => Promise<void>;
  watchIntervalMs?: number;
  runEmulator?: RunEmulator;
  /** Registers more commands (the lead's `worker`, `dev`, `submit`, `results`). */
  extend?: (program: Command, ctx: CliContext) => void;
}

export function createContext(deps: CliDeps = {}): CliContext {
  return {
    io: { ...processIo(), ...deps.io },
    connect: deps.connect ?? defaultConnect,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    watchIntervalMs: deps.watchIntervalMs ?? 2000,
    exitCode: EXIT.OK,
    target: {},
  };
}

/** The program with every command of this module; `extra` adds more before parsing. */
export function buildProgram(
  ctx: CliContext,
  extra?: (program: Command, ctx: CliContext) => void,
  runEmulator?: RunEmulator,
): Command {
  const program = new Command('batchkeeper')
    .description('durable OpenAI-compatible Batch API jobs on Temporal: track, cancel, bill')
    .option('--address <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS; default localhost:7233)')
    .option('--namespace <name>', 'Temporal namespace (env TEMPORAL_NAMESPACE; default default)')
    .option('--task-queue <name>', 'task queue of the batchkeeper worker (default batchkeeper)')
    .option('--temporal-profile <name>', 'profile of the Temporal config file (env TEMPORAL_PROFILE)')
    .option('--temporal-config <path>', 'Temporal TOML config file (env TEMPORAL_CONFIG_FILE)')
    .option('--json', 'machine-readable output on stdout')
    // Settings below are inherited by every command added afterwards.
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => ctx.io.out(s),
      writeErr: (s) => ctx.io.err(s),
      // Usage errors are printed by main() as one line.
      outputError: () => undefined,
    });
  registerTrack(program, ctx);
  registerCancel(program, ctx);
  registerStatus(program, ctx);
  registerList(program, ctx);
  registerBilling(program, ctx);
  registerEmulator(program, ctx, runEmulator);
  registerProcesses(program, ctx);
  registerSubmit(program, ctx);
  registerWebhooks(program, ctx);
  extra?.(program, ctx);
  return program;
}

/** Runs the CLI on user arguments (without `node` and the script); resolves to the exit code. */
export async function main(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  const ctx = createContext(deps);
  const program = buildProgram(ctx, deps.extend, deps.runEmulator);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (!isSilentCommanderExit(err)) ctx.io.err(errorLine(err, ctx.target));
    if (err instanceof CommanderError && err.code === 'commander.help') return EXIT.USAGE;
    return exitCodeOf(err);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

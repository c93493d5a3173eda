import { Option, type Command } from 'commander';
import { runEmulatorFromCli } from '../../emulator';
import type { CliContext } from '../context';
import { port, positiveNumber } from '../parse';

export type RunEmulator = (opts: {
  port?: number;
  host?: string;
  profile?: 'openai' | 'dashscope';
  speed?: number;
  print?: (line: string) => void;
}) => Promise<void>;

interface EmulatorFlags {
  port?: number;
  host?: string;
  profile?: 'openai' | 'dashscope';
  speed?: number;
}

export function registerEmulator(
  program: Command,
  ctx: CliContext,
  run: RunEmulator = runEmulatorFromCli,
): void {
  program
    .command('emulator')
    .description('run the local OpenAI/DashScope-compatible Batch API emulator until Ctrl-C')
    .option('--port <port>', 'TCP port (default: a free one, printed at start)', port)
    .option('--host <address>', 'address to listen on (default 127.0.0.1; 0.0.0.0 in a container)')
    .addOption(
      new Option('--profile <profile>', 'which provider to imitate').choices(['openai', 'dashscope']),
    )
    .option('--speed <factor>', 'run batches this many times faster than real time', positiveNumber)
    .action(async (flags: EmulatorFlags) => {
      await run({
        port: flags.port,
        host: flags.host,
        profile: flags.profile,
        speed: flags.speed,
        print: (line) => ctx.io.out(line + '\n'),
      });
    });
}

import { Option, type Command } from 'commander';
import { runEmulatorFromCli } from '../../emulator';
import type { CliContext } from '../context';
import { port, positiveNumber } from '../parse';

export type RunEmulator = (opts: {
  port?: number;
  host?: string;
  profile?: 'openai' | 'dashscope';
  speed?: number;
  webhookUrls?: string[];
  webhookSecret?: string;
  print?: (line: string) => void;
}) => Promise<void>;

interface EmulatorFlags {
  port?: number;
  host?: string;
  profile?: 'openai' | 'dashscope';
  speed?: number;
  webhookUrl?: string[];
  webhookSecret?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

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
    .option(
      '--webhook-url <url>',
      'POST a signed batch.* webhook here at every terminal status (repeatable; env BATCHKEEPER_EMULATOR_WEBHOOK_URL)',
      collect,
    )
    .option(
      '--webhook-secret <secret>',
      'whsec_... signing secret of the webhooks (prefer env BATCHKEEPER_EMULATOR_WEBHOOK_SECRET: arguments show in ps)',
    )
    .action(async (flags: EmulatorFlags) => {
      const env = ctx.io.env;
      const fromEnv = env.BATCHKEEPER_EMULATOR_WEBHOOK_URL?.split(',')
        .map((u) => u.trim())
        .filter(Boolean);
      const webhookUrls = flags.webhookUrl ?? fromEnv;
      await run({
        port: flags.port,
        host: flags.host,
        profile: flags.profile,
        speed: flags.speed,
        ...(webhookUrls?.length
          ? { webhookUrls, webhookSecret: flags.webhookSecret ?? env.BATCHKEEPER_EMULATOR_WEBHOOK_SECRET }
          : {}),
        print: (line) => ctx.io.out(line + '\n'),
      });
    });
}

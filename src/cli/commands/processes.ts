import { Option, type Command } from 'commander';
import { ConfigError, loadWorkerConfig } from '../../config/worker-config';
import { createDemoBatch } from '../../dev/demo';
import { EMULATOR_PROFILE, runDev } from '../../dev/run-dev';
import { LOG_FORMATS, chooseLogFormat, createLogger, type LogFormat } from '../../worker/logger';
import { startWorker } from '../../worker/run-worker';
import { globals, withBatchkeeper, type CliContext } from '../context';
import { EXIT } from '../exit-codes';
import { cliInvocation } from '../invocation';
import { printJson } from '../output';
import { port, positiveNumber } from '../parse';

/** Global connection flags win over the environment for the worker, which reads Temporal's env conventions. */
function applyGlobals(cmd: Command, env: NodeJS.ProcessEnv): void {
  const g = globals(cmd);
  if (g.address) env.TEMPORAL_ADDRESS = g.address;
  if (g.namespace) env.TEMPORAL_NAMESPACE = g.namespace;
  if (g.taskQueue) env.BATCHKEEPER_TASK_QUEUE = g.taskQueue;
  if (g.temporalProfile) env.TEMPORAL_PROFILE = g.temporalProfile;
  if (g.temporalConfig) env.TEMPORAL_CONFIG_FILE = g.temporalConfig;
}

/** A configuration error is the user's to fix: its one line and exit 2, not a stack. Rethrows anything else. */
function usageOnConfigError(ctx: CliContext, err: unknown): void {
  if (!(err instanceof ConfigError)) throw err;
  ctx.io.err(`batchkeeper: ${err.message}\n`);
  ctx.exitCode = EXIT.USAGE;
}

const logFormatOption = (defaults: string) =>
  new Option(
    '--log-format <format>',
    `log lines as JSON or pretty (env BATCHKEEPER_LOG_FORMAT; ${defaults})`,
  ).choices(LOG_FORMATS);

export function registerProcesses(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description(
      'run the worker: polls the task queue, calls providers, records billing (until SIGINT/SIGTERM)',
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics on this port (env BATCHKEEPER_METRICS_PORT)',
      port,
    )
    .option('--ledger <path>', 'SQLite ledger file (env BATCHKEEPER_LEDGER_PATH)')
    .addOption(logFormatOption('default json'))
    .action(async (flags: { metricsPort?: number; ledger?: string; logFormat?: LogFormat }, cmd: Command) => {
      applyGlobals(cmd, process.env);
      let config;
      let logFormat: LogFormat;
      try {
        config = loadWorkerConfig(process.env, { metricsPort: flags.metricsPort, ledgerPath: flags.ledger });
        // A deployed worker's output goes to a log collector even when it was started from a terminal.
        logFormat = chooseLogFormat({ flag: flags.logFormat, env: ctx.io.env, interactive: false });
      } catch (err) {
        usageOnConfigError(ctx, err);
        return;
      }
      const running = await startWorker(config, {
        logger: createLogger(config.logLevel, undefined, logFormat),
      });
      await running.done;
    });

  program
    .command('dev')
    .description(
      'run everything locally: Temporal dev server + Web UI, the Batch API emulator (when no provider key is set) ' +
        'and the worker, until Ctrl-C',
    )
    .option('--data-dir <path>', 'state of the dev server, emulator and ledger (default ./.data)')
    .option('--ui-port <port>', 'Temporal Web UI port (default 8233)', port)
    .option('--temporal-port <port>', 'Temporal frontend port (default 7233)', port)
    .option('--emulator-port <port>', 'emulator port (default 8787)', port)
    .addOption(logFormatOption('default pretty on a terminal, else json'))
    .action(
      async (
        flags: {
          dataDir?: string;
          uiPort?: number;
          temporalPort?: number;
          emulatorPort?: number;
          logFormat?: LogFormat;
        },
        cmd,
      ) => {
        applyGlobals(cmd as Command, process.env);
        let logFormat: LogFormat;
        try {
          logFormat = chooseLogFormat({ flag: flags.logFormat, env: ctx.io.env, interactive: ctx.io.isTTY });
        } catch (err) {
          usageOnConfigError(ctx, err);
          return;
        }
        await runDev({
          logFormat,
          dataDir: flags.dataDir,
          uiPort: flags.uiPort,
          temporalPort: flags.temporalPort,
          emulatorPort: flags.emulatorPort,
          print: (line) => ctx.io.out(line + '\n'),
        });
      },
    );

  program
    .command('demo')
    .description('create a demo batch on the local emulator (started by `batchkeeper dev`) and track it')
    .option('--requests <n>', 'requests in the demo batch (default 120)', positiveNumber)
    .option('--emulator-url <url>', 'emulator base URL (default http://127.0.0.1:8787/v1)')
    .action(async (flags: { requests?: number; emulatorUrl?: string }, cmd: Command) => {
      const demo = await createDemoBatch({ baseURL: flags.emulatorUrl, requests: flags.requests });
      await withBatchkeeper(ctx, cmd, async (bk, g) => {
        // Poll every few seconds: a demo batch runs for about a minute.
        const result = await bk.track(demo.batchId, {
          provider: EMULATOR_PROFILE,
          pollPolicy: { maxIntervalSeconds: 5 },
        });
        if (g.json) return printJson(ctx.io, { ...demo, ...result });
        const cli = cliInvocation();
        ctx.io.out(
          [
            `created demo batch ${demo.batchId} (${demo.requests} requests) on the emulator and started tracking it`,
            `  watch it:   ${cli} status ${demo.batchId} --watch`,
            `  cancel it:  ${cli} cancel ${demo.batchId} --reason "just trying"`,
            `  or in the Web UI: workflow ${result.workflowId}`,
            '',
          ].join('\n'),
        );
      });
    });
}

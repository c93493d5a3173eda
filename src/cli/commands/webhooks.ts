import type { Command } from 'commander';
import { DEFAULT_TASK_QUEUE } from '../../../workflows/contract';
import { ConfigError } from '../../config/providers';
import { loadWebhookEndpoints } from '../../webhooks/endpoints';
import { DEFAULT_WEBHOOKS_PORT, startWebhookReceiver } from '../../webhooks/receiver';
import { createLogger } from '../../worker/logger';
import { connectFor, globals, type CliContext } from '../context';
import { EXIT } from '../exit-codes';
import { port, positiveInteger } from '../parse';

interface WebhooksFlags {
  port?: number;
  host?: string;
  tolerance?: number;
}

export function registerWebhooks(program: Command, ctx: CliContext): void {
  program
    .command('webhooks')
    .description(
      "receive signed provider webhooks (batch.*) on POST /webhooks/<profile> and signal the batches' workflows, " +
        'until SIGINT/SIGTERM',
    )
    .option('--port <port>', `TCP port (default ${DEFAULT_WEBHOOKS_PORT})`, port)
    .option('--host <address>', 'address to listen on (default 127.0.0.1; 0.0.0.0 in a container)')
    .option(
      '--tolerance <seconds>',
      'how far webhook-timestamp may be from now, either way (default 300)',
      positiveInteger,
    )
    .action(async (flags: WebhooksFlags, cmd: Command) => {
      const env = ctx.io.env;
      let endpoints;
      try {
        endpoints = loadWebhookEndpoints(env);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        ctx.io.err(`batchkeeper: ${err.message}\n`);
        ctx.exitCode = EXIT.USAGE;
        return;
      }
      const g = globals(cmd);
      const connected = await connectFor(ctx, g);
      const logger = createLogger(env.BATCHKEEPER_LOG_LEVEL ?? 'info', 'batchkeeper-webhooks');
      // As the worker: the task queue comes from the environment a deployment sets, unless the flag says otherwise.
      const taskQueue = g.taskQueue ?? env.BATCHKEEPER_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
      try {
        const receiver = await startWebhookReceiver({
          client: connected.client,
          endpoints,
          taskQueue,
          logger,
          port: flags.port,
          host: flags.host,
          toleranceSeconds: flags.tolerance,
        });
        logger.info(
          {
            routes: endpoints.map((e) => `${receiver.origin}/webhooks/${e.profile}`),
            trackUnknown: endpoints.filter((e) => e.trackUnknown).map((e) => e.profile),
            temporal: connected.address,
            namespace: connected.namespace,
            taskQueue,
          },
          'webhooks ready',
        );
        const signal = await untilStopSignal();
        logger.info({ signal }, 'stopping webhooks');
        await receiver.close();
      } finally {
        await connected.close();
      }
    });
}

function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

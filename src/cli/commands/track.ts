import type { Command } from 'commander';
import type { PollPolicy } from '../../../workflows/contract';
import { withBatchkeeper, type CliContext } from '../context';
import { printJson } from '../output';
import { nonEmpty, positiveNumber } from '../parse';

interface TrackFlags {
  provider: string;
  pollInitial?: number;
  pollMax?: number;
  cleanupRemote?: boolean;
}

export function registerTrack(program: Command, ctx: CliContext): void {
  program
    .command('track')
    .description('start tracking an existing provider batch (idempotent: an existing workflow is reused)')
    .argument('<batch_id>', 'provider batch id, e.g. batch_abc123', nonEmpty)
    .requiredOption(
      '--provider <name>',
      'provider profile configured on the worker (e.g. openai, dashscope)',
      nonEmpty,
    )
    .option(
      '--poll-initial <seconds>',
      'first wait between polls, and after every status change',
      positiveNumber,
    )
    .option('--poll-max <seconds>', 'longest wait between polls', positiveNumber)
    .option(
      '--cleanup-remote',
      "delete the batch's input, output and error files at the provider once its results are stored and verified " +
        '(off by default: a tracked batch was created elsewhere)',
    )
    .action(async (batchId: string, flags: TrackFlags, cmd: Command) => {
      const pollPolicy: Partial<PollPolicy> = {};
      if (flags.pollInitial !== undefined) pollPolicy.initialIntervalSeconds = flags.pollInitial;
      if (flags.pollMax !== undefined) pollPolicy.maxIntervalSeconds = flags.pollMax;
      await withBatchkeeper(ctx, cmd, async (bk, g) => {
        const result = await bk.track(batchId, {
          provider: flags.provider,
          pollPolicy: Object.keys(pollPolicy).length > 0 ? pollPolicy : undefined,
          cleanupRemote: flags.cleanupRemote,
        });
        if (g.json) return printJson(ctx.io, { batchId, taskQueue: bk.taskQueue, ...result });
        ctx.io.out(
          result.started
            ? `tracking batch ${batchId}: workflow ${result.workflowId} (run ${result.runId}) on task queue ${bk.taskQueue}\n`
            : `batch ${batchId} already tracked: workflow ${result.workflowId} (run ${result.runId}, ${result.status})\n`,
        );
      });
    });
}

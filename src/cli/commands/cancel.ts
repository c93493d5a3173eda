import type { Command } from 'commander';
import { withBatchkeeper, type CliContext } from '../context';
import { printJson, usageError } from '../output';
import { nonEmpty } from '../parse';

interface CancelFlags {
  reason?: string;
  requestedBy?: string;
  provider?: string;
  cleanupRemote?: boolean;
}

export function registerCancel(program: Command, ctx: CliContext): void {
  program
    .command('cancel')
    .description(
      'send the cancel signal; the workflow cancels the provider batch and records what was billed',
    )
    .argument('<batch_id>', 'provider batch id', nonEmpty)
    .option('--reason <text>', 'why (kept in the ledger)')
    .option('--requested-by <who>', 'who or which service asks (kept in the ledger)')
    .option(
      '--provider <name>',
      'also start tracking the batch if no workflow tracks it yet (signal-with-start)',
      nonEmpty,
    )
    .option(
      '--cleanup-remote',
      "with --provider: delete the batch's files at the provider once its results are stored and verified",
    )
    .action(async (batchId: string, flags: CancelFlags, cmd: Command) => {
      if (flags.cleanupRemote && flags.provider === undefined) {
        throw usageError(
          '--cleanup-remote applies to the workflow that --provider starts; a running one keeps its own setting',
        );
      }
      await withBatchkeeper(ctx, cmd, async (bk, g) => {
        const result = await bk.cancel(batchId, {
          reason: flags.reason,
          requestedBy: flags.requestedBy ?? defaultRequester(ctx.io.env),
          provider: flags.provider,
          cleanupRemote: flags.cleanupRemote,
        });
        if (g.json) return printJson(ctx.io, { batchId, ...result });
        const started = result.via === 'signal-with-start' ? ' (tracking started with it)' : '';
        ctx.io.out(
          `cancel sent to workflow ${result.workflowId}${started}; follow it with \`batchkeeper status ${batchId} --watch\`\n`,
        );
      });
    });
}

/** Who cancelled ends up in the ledger: without --requested-by, name the CLI and the operator's login. */
function defaultRequester(env: Record<string, string | undefined>): string {
  const user = env.USER ?? env.USERNAME;
  return user ? `batchkeeper-cli:${user}` : 'batchkeeper-cli';
}

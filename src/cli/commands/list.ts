import { Option, type Command } from 'commander';
import { BATCH_STATUSES, type BatchStatus } from '../../../workflows/contract';
import { LIST_STATUSES, type BatchWorkflowSummary, type ListStatus } from '../../client';
import { withBatchkeeper, type CliContext } from '../context';
import { printJson } from '../output';
import { positiveInteger } from '../parse';

interface ListFlags {
  status?: ListStatus;
  batchStatus?: BatchStatus;
  provider?: string;
  query?: string;
  limit: number;
}

export function registerList(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('batchkeeper workflows, newest first (from Temporal visibility)')
    .addOption(
      new Option(
        '--status <status>',
        'workflow execution status (a batch the provider failed still completes its workflow)',
      ).choices(LIST_STATUSES),
    )
    .addOption(
      new Option(
        '--batch-status <status>',
        "the provider batch's status (search attribute BatchStatus)",
      ).choices(BATCH_STATUSES),
    )
    .option('--provider <name>', 'provider profile (search attribute BatchProvider)')
    .option('--query <visibility>', 'extra visibility clause, e.g. "StartTime > \'2025-03-01T00:00:00Z\'"')
    .option('--limit <n>', 'at most this many', positiveInteger, 100)
    .action(async (flags: ListFlags, cmd: Command) => {
      await withBatchkeeper(ctx, cmd, async (bk, g) => {
        const rows = await bk.list({
          status: flags.status,
          batchStatus: flags.batchStatus,
          provider: flags.provider,
          query: flags.query,
          limit: flags.limit,
        });
        if (g.json) return printJson(ctx.io, rows);
        ctx.io.out(renderList(rows));
      });
    });
}

export function renderList(rows: readonly BatchWorkflowSummary[]): string {
  if (rows.length === 0) return 'no batchkeeper workflows\n';
  const header = [
    'BATCH',
    'BATCH STATUS',
    'DONE',
    'PROVIDER',
    'WORKFLOW',
    'STARTED',
    'CLOSED',
    'WORKFLOW ID',
  ];
  const body = rows.map((r) => [
    r.batchId,
    r.batchStatus ?? '-',
    r.requests ? `${r.requests.completed + r.requests.failed}/${r.requests.total}` : '-',
    r.provider ?? '-',
    r.status,
    r.startTime,
    r.closeTime ?? '-',
    r.workflowId,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n') + '\n';
}

import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import type { BatchkeeperClient } from '../../client';
import { withBatchkeeper, type CliContext } from '../context';
import { EXIT } from '../exit-codes';
import { printJson } from '../output';
import { billingLine, progressLine, renderStatus, summarize, type StatusSummary } from '../status-view';
import { nonEmpty } from '../parse';

interface StatusFlags {
  watch?: boolean;
}

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description("a batch's status from its workflow; --watch follows it to the end")
    .argument('<batch_id>', 'provider batch id', nonEmpty)
    .option('--watch', 'follow progress until a terminal status, then print the billing totals')
    .action(async (batchId: string, flags: StatusFlags, cmd: Command) => {
      await withBatchkeeper(ctx, cmd, async (bk, g) => {
        if (flags.watch) {
          ctx.exitCode = await watch(ctx, bk, batchId, g.json === true);
          return;
        }
        const result = await bk.status(batchId);
        if (g.json) return printJson(ctx.io, result);
        ctx.io.out(renderStatus(result));
      });
    });
}

/**
 * Queries until the batch is terminal or the workflow closed. On a terminal: a progress bar; elsewhere one
 * line (or, with --json, one JSON object) per change. Exit 0 only when the batch completed.
 */
async function watch(
  ctx: CliContext,
  bk: BatchkeeperClient,
  batchId: string,
  json: boolean,
): Promise<number> {
  const display = json
    ? jsonDisplay(ctx)
    : ctx.io.isTTY && ctx.io.ttyStream
      ? barDisplay(ctx)
      : lineDisplay(ctx);
  let last: StatusSummary;
  let warnedNoWorker = false;
  try {
    for (;;) {
      const result = await bk.status(batchId);
      last = summarize(result);
      display.update(last, result);
      if (last.done) break;
      if (result.source === 'describe' && !warnedNoWorker && !json) {
        warnedNoWorker = true;
        ctx.io.err(
          `batchkeeper: no worker answered the status query (${result.queryError}); still waiting\n`,
        );
      }
      await ctx.sleep(ctx.watchIntervalMs);
    }
  } finally {
    display.stop();
  }
  if (!json)
    ctx.io.out(
      `${batchId} ended ${last.status ?? `without a batch status (workflow ${last.execution})`}\n${billingLine(last.billing)}\n`,
    );
  return last.status === 'completed' ? EXIT.OK : EXIT.FAILED;
}

interface Display {
  update(s: StatusSummary, raw: unknown): void;
  stop(): void;
}

function changeKey(s: StatusSummary): string {
  return JSON.stringify([s.status, s.counts, s.cancelling, s.execution, s.done]);
}

function lineDisplay(ctx: CliContext): Display {
  let previous = '';
  return {
    update(s) {
      const key = changeKey(s);
      if (key === previous) return;
      previous = key;
      ctx.io.out(progressLine(s) + '\n');
    },
    stop() {},
  };
}

function jsonDisplay(ctx: CliContext): Display {
  let previous = '';
  return {
    update(s, raw) {
      const key = changeKey(s);
      if (key === previous) return;
      previous = key;
      // One object per line (NDJSON) so a consumer can act on each change as it arrives.
      printJson(ctx.io, raw, false);
    },
    stop() {},
  };
}

function barDisplay(ctx: CliContext): Display {
  const bar = new SingleBar({
    stream: ctx.io.ttyStream,
    format: '{batch} [{bar}] {value}/{total} done | completed {completed} failed {failed} | {status}',
    hideCursor: true,
    barsize: 30,
  });
  let started = false;
  return {
    update(s) {
      const total = Math.max(s.counts?.total ?? 0, 1);
      const done = s.counts ? s.counts.completed + s.counts.failed : 0;
      const payload = {
        batch: s.batchId,
        completed: s.counts?.completed ?? 0,
        failed: s.counts?.failed ?? 0,
        status: (s.status ?? 'waiting for the first poll') + (s.cancelling ? ' (cancelling)' : ''),
      };
      if (!started) {
        started = true;
        bar.start(total, done, payload);
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

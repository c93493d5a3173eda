import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SubmitWorkflowInput } from '../../../workflows/contract';
import { SubmissionsClient } from '../../client';
import { withBatchkeeper, type CliContext } from '../context';
import { EXIT } from '../exit-codes';
import { printJson } from '../output';
import { nonEmpty, positiveInteger, positiveNumber } from '../parse';

interface SubmitFlags {
  provider: string;
  endpoint: string;
  window?: string;
  model?: string;
  name?: string;
  metadata: string[];
  resubmitRounds?: number;
  keepRemoteFiles?: boolean;
  pollMax?: number;
  wait?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerSubmit(program: Command, ctx: CliContext): void {
  program
    .command('submit')
    .description('submit a JSONL file of requests: validated, split over limits, one tracked batch per part')
    .argument(
      '<file>',
      'JSONL: request lines {custom_id, method, url, body} or bare request bodies',
      nonEmpty,
    )
    .requiredOption('--provider <name>', 'provider profile configured on the worker', nonEmpty)
    .option('--endpoint <path>', 'batch endpoint', '/v1/chat/completions')
    .option('--window <window>', 'completion window (24h; DashScope up to 336h)')
    .option('--model <model>', 'model for lines that name none (bare request bodies)')
    .option('--name <name>', 'submission name (workflow submit-<name>; the same name never submits twice)')
    .option(
      '--metadata <key=value>',
      'batch metadata, repeatable (DashScope: ds_name, ds_description)',
      collect,
      [],
    )
    .option(
      '--resubmit-rounds <n>',
      'resubmit failed or never-run lines up to n times (max 3)',
      positiveInteger,
    )
    .option('--keep-remote-files', 'do not delete input/output files at the provider after download')
    .option('--poll-max <seconds>', 'longest wait between polls', positiveNumber)
    .option('--wait', 'wait for the outcome and print the totals')
    .action(async (file: string, flags: SubmitFlags, cmd: Command) => {
      // Workers read the file: give them an absolute path (they share this machine or a volume).
      const path = resolve(file);
      if (!existsSync(path)) {
        ctx.io.err(`batchkeeper: no such file ${path}\n`);
        ctx.exitCode = EXIT.USAGE;
        return;
      }
      const metadata: Record<string, string> = {};
      for (const kv of flags.metadata) {
        const i = kv.indexOf('=');
        if (i <= 0) {
          ctx.io.err(`batchkeeper: --metadata expects key=value, got '${kv}'\n`);
          ctx.exitCode = EXIT.USAGE;
          return;
        }
        metadata[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const input: SubmitWorkflowInput = {
        provider: flags.provider,
        submission: {
          source: { path },
          endpoint: flags.endpoint,
          completionWindow: flags.window,
          defaultModel: flags.model,
          metadata: Object.keys(metadata).length > 0 ? metadata : undefined,
        },
        pollPolicy: flags.pollMax ? { maxIntervalSeconds: flags.pollMax } : undefined,
        results: flags.keepRemoteFiles ? { cleanupRemote: false } : undefined,
        resubmit: flags.resubmitRounds ? { rounds: flags.resubmitRounds } : undefined,
      };
      await withBatchkeeper(ctx, cmd, async (bk, g) => {
        const submissions = new SubmissionsClient(bk.client, { taskQueue: bk.taskQueue });
        const started = await submissions.submit(input, { name: flags.name });
        if (!flags.wait) {
          if (g.json) return printJson(ctx.io, started);
          ctx.io.out(
            `submitted ${path} as ${started.workflowId}\n` +
              `  follow it: temporal workflow query --workflow-id ${started.workflowId} --type status\n`,
          );
          return;
        }
        const outcome = await submissions.wait(started.name);
        if (g.json) return printJson(ctx.io, { ...started, outcome });
        const b = outcome.billing;
        ctx.io.out(
          `${started.workflowId}: ${outcome.status}, ${outcome.batches.length} batch(es): ` +
            `billed ${b.billed} of ${b.total} (failed ${b.failed}, not run ${b.notRun})\n` +
            outcome.batches
              .map((x) => `  ${x.batchId} r${x.round} ${x.outcome?.status ?? x.status}\n`)
              .join('') +
            outcome.resultsDirs.map((d) => `  results: ${d}\n`).join(''),
        );
        if (outcome.status !== 'completed') ctx.exitCode = EXIT.FAILED;
      });
    });

  program
    .command('results')
    .description("where a batch's downloaded results are, with their checksums and a summary per outcome")
    .argument('<batch_id>', 'provider batch id', nonEmpty)
    .action(async (batchId: string, _flags: unknown, cmd: Command) => {
      await withBatchkeeper(ctx, cmd, async (bk, g) => {
        const status = await bk.status(batchId);
        const results =
          status.source === 'query'
            ? status.view.results
            : status.source === 'result'
              ? status.outcome.results
              : null;
        const error =
          status.source === 'query'
            ? status.view.resultsError
            : status.source === 'result'
              ? status.outcome.resultsError
              : null;
        if (g.json) return printJson(ctx.io, { batchId, results, error });
        if (!results) {
          ctx.io.out(
            error
              ? `batch ${batchId}: results could not be downloaded: ${error}\n`
              : `batch ${batchId}: no results yet (they are downloaded at the terminal status)\n`,
          );
          ctx.exitCode = EXIT.NOT_FOUND;
          return;
        }
        const s = results.summary;
        ctx.io.out(
          `batch ${batchId}: ${results.dir}\n` +
            results.files
              .map((f) => `  ${f.kind.padEnd(6)} ${f.path}  ${f.lines} lines  sha256 ${f.sha256}\n`)
              .join('') +
            `  succeeded ${s.succeeded}, failed ${s.failed}, not run ${s.notRun}\n` +
            (results.remoteFilesDeleted.length
              ? `  deleted at the provider: ${results.remoteFilesDeleted.join(', ')}\n`
              : ''),
        );
      });
    });
}

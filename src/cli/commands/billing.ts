import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { TERMINAL_STATUSES, type TerminalStatus } from '../../../workflows/contract';
import { DEFAULT_SQLITE_PATH, LEDGER_FORMATS, formatRows, openLedger, type LedgerFormat } from '../../ledger';
import { globals, type CliContext } from '../context';
import { EXIT } from '../exit-codes';
import { CliError, usageError } from '../output';
import { isoDate, nonEmpty } from '../parse';

interface BillingFlags {
  since?: Date;
  until?: Date;
  provider?: string;
  status?: TerminalStatus;
  format?: LedgerFormat;
  databaseUrl?: string;
  ledger?: string;
}

export function registerBilling(program: Command, ctx: CliContext): void {
  program
    .command('billing')
    .description('billing totals recorded in the ledger, one row per batch')
    .option('--since <date>', 'finished at or after (2025-03-01 or an ISO time)', isoDate)
    .option('--until <date>', 'finished before (exclusive)', isoDate)
    .option('--provider <name>', 'only this provider profile', nonEmpty)
    .addOption(new Option('--status <status>', 'only this terminal status').choices(TERMINAL_STATUSES))
    .addOption(
      new Option('--format <format>', 'output format (default table; json with --json)').choices(
        LEDGER_FORMATS,
      ),
    )
    .option('--database-url <url>', 'Postgres ledger (env BATCHKEEPER_DATABASE_URL)')
    .option(
      '--ledger <path>',
      `SQLite ledger file (env BATCHKEEPER_LEDGER_PATH; default ${DEFAULT_SQLITE_PATH})`,
    )
    .action(async (flags: BillingFlags, cmd: Command) => {
      const g = globals(cmd);
      if (g.json && flags.format && flags.format !== 'json') {
        throw usageError(`--json conflicts with --format ${flags.format}`);
      }
      if (flags.since && flags.until && flags.since >= flags.until)
        throw usageError('--since must be before --until');
      const format: LedgerFormat = g.json ? 'json' : (flags.format ?? 'table');
      const env = ctx.io.env;
      const databaseUrl = flags.databaseUrl ?? nonBlank(env.BATCHKEEPER_DATABASE_URL);
      const sqlitePath = flags.ledger ?? nonBlank(env.BATCHKEEPER_LEDGER_PATH) ?? DEFAULT_SQLITE_PATH;
      // Reading must not create an empty ledger where none was: that would hide a wrong path.
      if (!databaseUrl && !existsSync(sqlitePath)) {
        throw new CliError(
          `no ledger at ${sqlitePath} — pass --ledger <path> or --database-url, or set BATCHKEEPER_LEDGER_PATH`,
          EXIT.NOT_FOUND,
        );
      }
      let ledger;
      try {
        ledger = await openLedger({ databaseUrl, sqlitePath });
      } catch (err) {
        throw new CliError(`cannot open the ledger: ${(err as Error).message}`, EXIT.FAILED);
      }
      try {
        const rows = await ledger.list({
          since: flags.since,
          until: flags.until,
          provider: flags.provider,
          status: flags.status,
        });
        ctx.io.out(formatRows(rows, format));
      } finally {
        await ledger.close();
      }
    });
}

function nonBlank(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

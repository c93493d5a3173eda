import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Ledger, LedgerListFilter, LedgerRow } from './types';
import { LEDGER_COLUMNS, discrepanciesFromText, discrepanciesToText, normalizeRow } from './types';
import { upsertAssignments } from './upsert';

/** `PRAGMA user_version` of the newest schema; each index of MIGRATIONS moves the file one version up. */
export const SQLITE_SCHEMA_VERSION = 2;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS billing_ledger (
    batch_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT,
    status TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'expired', 'cancelled')),
    total INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    billed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    not_run INTEGER NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    estimated_cost_usd REAL,
    cancel_requested_at TEXT,
    cancel_reason TEXT,
    cancel_requested_by TEXT,
    created_at TEXT,
    finished_at TEXT,
    recorded_at TEXT NOT NULL,
    workflow_id TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS billing_ledger_finished_idx ON billing_ledger (coalesce(finished_at, recorded_at));`,
  // Runs once per file: user_version moves past it in the same transaction.
  `ALTER TABLE billing_ledger ADD COLUMN discrepancies TEXT;`,
];

const COLS = LEDGER_COLUMNS.map(([, c]) => c);
const UPSERT = `INSERT INTO billing_ledger (${COLS.join(', ')}) VALUES (${COLS.map((c) => '@' + c).join(', ')})
  ON CONFLICT (batch_id) DO UPDATE SET ${upsertAssignments('billing_ledger')}`;
const ORDER = 'ORDER BY coalesce(finished_at, recorded_at), batch_id';

export interface SqliteLedgerOptions {
  /** How long a writer waits for another process holding the file's lock. */
  busyTimeoutMs?: number;
}

export function openSqliteLedger(path: string, options: SqliteLedgerOptions = {}): Ledger {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('journal_mode = WAL');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }

  const exists = db.prepare<[string]>('SELECT 1 FROM billing_ledger WHERE batch_id = ?').pluck();
  const upsert = db.prepare(UPSERT);
  const getOne = db.prepare<[string], Record<string, unknown>>(
    'SELECT * FROM billing_ledger WHERE batch_id = ?',
  );
  // IMMEDIATE takes the write lock before the existence check, so two processes cannot both see "new".
  const record = db.transaction((params: Record<string, unknown>) => {
    const found = exists.get(params.batch_id as string) !== undefined;
    upsert.run(params);
    return { inserted: !found };
  });

  return {
    async record(row) {
      return record.immediate(toParams(normalizeRow(row)));
    },
    async get(batchId) {
      const r = getOne.get(batchId);
      return r ? fromRecord(r) : null;
    },
    async list(filter: LedgerListFilter = {}) {
      const { where, params } = whereClause(filter);
      const rows = db.prepare(`SELECT * FROM billing_ledger ${where} ${ORDER}`).all(params);
      return (rows as Record<string, unknown>[]).map(fromRecord);
    },
    async close() {
      if (db.open) db.close();
    },
  };
}

function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `ledger file has schema version ${current}, newer than this batchkeeper knows (${MIGRATIONS.length})`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]);
    // PRAGMA takes no bound parameters; the value is our own integer.
    if (current !== MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function whereClause(filter: LedgerListFilter): { where: string; params: Record<string, string> } {
  const conds: string[] = [];
  const params: Record<string, string> = {};
  if (filter.since) {
    conds.push('coalesce(finished_at, recorded_at) >= @since');
    params.since = filter.since.toISOString();
  }
  if (filter.until) {
    conds.push('coalesce(finished_at, recorded_at) < @until');
    params.until = filter.until.toISOString();
  }
  if (filter.provider !== undefined) {
    conds.push('provider = @provider');
    params.provider = filter.provider;
  }
  if (filter.status !== undefined) {
    conds.push('status = @status');
    params.status = filter.status;
  }
  return { where: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

function toParams(row: LedgerRow): Record<string, unknown> {
  const params: Record<string, unknown> = Object.fromEntries(LEDGER_COLUMNS.map(([k, c]) => [c, row[k]]));
  params.discrepancies = discrepanciesToText(row.discrepancies);
  return params;
}

function fromRecord(r: Record<string, unknown>): LedgerRow {
  const row = Object.fromEntries(LEDGER_COLUMNS.map(([k, c]) => [k, r[c] ?? null])) as unknown as LedgerRow;
  row.discrepancies = discrepanciesFromText(r.discrepancies);
  return row;
}

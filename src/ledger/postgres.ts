import { Pool } from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type { Ledger, LedgerListFilter, LedgerRow } from './types';
import { LEDGER_COLUMNS, discrepanciesFromText, discrepanciesToText, normalizeRow } from './types';
import { upsertAssignments } from './upsert';

/** Version recorded in `billing_ledger_schema`; each index of migrations() moves the schema one version up. */
export const POSTGRES_SCHEMA_VERSION = 2;

export interface PostgresLedgerOptions {
  connectionString: string;
  /** Postgres schema holding the tables (created if missing); tests use a throwaway one. */
  schema?: string;
  /** Pool size: the ledger writes once per batch, so a few connections are plenty. */
  maxConnections?: number;
}

const COLS = LEDGER_COLUMNS.map(([, c]) => c);
const TIME_COLUMNS = new Set(['cancel_requested_at', 'created_at', 'finished_at', 'recorded_at']);
const BIGINT_COLUMNS = new Set(['input_tokens', 'output_tokens', 'total_tokens']);

function migrations(t: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (
      batch_id text PRIMARY KEY,
      provider text NOT NULL,
      endpoint text NOT NULL,
      model text,
      status text NOT NULL CHECK (status IN ('completed', 'failed', 'expired', 'cancelled')),
      total integer NOT NULL,
      completed integer NOT NULL,
      billed integer NOT NULL,
      failed integer NOT NULL,
      not_run integer NOT NULL,
      input_tokens bigint,
      output_tokens bigint,
      total_tokens bigint,
      estimated_cost_usd double precision,
      cancel_requested_at timestamptz,
      cancel_reason text,
      cancel_requested_by text,
      created_at timestamptz,
      finished_at timestamptz,
      recorded_at timestamptz NOT NULL,
      workflow_id text NOT NULL
    );
    CREATE INDEX IF NOT EXISTS billing_ledger_finished_idx ON ${t} ((coalesce(finished_at, recorded_at)));`,
    `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS discrepancies text;`,
  ];
}

export async function openPostgresLedger(options: PostgresLedgerOptions): Promise<Ledger> {
  const schema = options.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid Postgres schema name: ${schema}`);
  const table = `"${schema}".billing_ledger`;
  const pool = new Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 4 });
  // An idle client losing its connection emits 'error' on the pool; unhandled, that would kill the worker.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, schema, table);
  } catch (err) {
    await pool.end();
    throw err;
  }

  // The alias names the existing row in the SET list, whatever schema the table lives in.
  const upsert = `INSERT INTO ${table} AS ledger (${COLS.join(', ')}) VALUES (${COLS.map((_, i) => `$${i + 1}`).join(', ')})
    ON CONFLICT (batch_id) DO UPDATE SET ${upsertAssignments('ledger')}
    RETURNING (xmax = 0) AS inserted`;

  return {
    async record(row) {
      const r = normalizeRow(row);
      const res = await pool.query<{ inserted: boolean }>(
        upsert,
        LEDGER_COLUMNS.map(([k]) => (k === 'discrepancies' ? discrepanciesToText(r[k]) : r[k])),
      );
      return { inserted: res.rows[0].inserted };
    },
    async get(batchId) {
      const res = await pool.query<QueryResultRow>(`SELECT * FROM ${table} WHERE batch_id = $1`, [batchId]);
      return res.rows.length ? fromRecord(res.rows[0]) : null;
    },
    async list(filter: LedgerListFilter = {}) {
      const conds: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, v: unknown) => {
        params.push(v);
        conds.push(sql.replace('?', `$${params.length}`));
      };
      if (filter.since) add('coalesce(finished_at, recorded_at) >= ?', filter.since);
      if (filter.until) add('coalesce(finished_at, recorded_at) < ?', filter.until);
      if (filter.provider !== undefined) add('provider = ?', filter.provider);
      if (filter.status !== undefined) add('status = ?', filter.status);
      const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
      const res = await pool.query<QueryResultRow>(
        `SELECT * FROM ${table} ${where} ORDER BY coalesce(finished_at, recorded_at), batch_id`,
        params,
      );
      return res.rows.map(fromRecord);
    },
    async close() {
      if (!pool.ended) await pool.end();
    },
  };
}

async function migrate(pool: Pool, schema: string, table: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Several workers may start at once; concurrent CREATE ... IF NOT EXISTS can still collide in Postgres.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `batchkeeper.billing_ledger:${schema}`,
    ]);
    if (schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS "${schema}".billing_ledger_schema (version integer NOT NULL)`,
    );
    const current = await currentVersion(client, schema);
    const steps = migrations(table);
    if (current > steps.length) {
      throw new Error(
        `ledger schema version ${current} is newer than this batchkeeper knows (${steps.length})`,
      );
    }
    for (let v = current; v < steps.length; v++) await client.query(steps[v]);
    if (current !== steps.length) {
      await client.query(`DELETE FROM "${schema}".billing_ledger_schema`);
      await client.query(`INSERT INTO "${schema}".billing_ledger_schema (version) VALUES ($1)`, [
        steps.length,
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

async function currentVersion(client: PoolClient, schema: string): Promise<number> {
  const res = await client.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM "${schema}".billing_ledger_schema`,
  );
  return res.rows[0].version ?? 0;
}

function fromRecord(r: QueryResultRow): LedgerRow {
  const out: Record<string, unknown> = {};
  for (const [k, c] of LEDGER_COLUMNS) {
    const v: unknown = r[c];
    if (k === 'discrepancies') out[k] = discrepanciesFromText(v);
    else if (v === null || v === undefined) out[k] = null;
    else if (TIME_COLUMNS.has(c)) out[k] = (v as Date).toISOString();
    // pg returns bigint as a string to avoid precision loss; token counts stay far below 2^53.
    else if (BIGINT_COLUMNS.has(c)) out[k] = Number(v);
    else out[k] = v;
  }
  return out as unknown as LedgerRow;
}

// The ledger as schema version 1 (batchkeeper before discrepancies) left it, frozen here so the migration of
// existing ledgers is tested against what users have on disk, not against today's code.

export const SQLITE_V1 = `CREATE TABLE billing_ledger (
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
  CREATE INDEX billing_ledger_finished_idx ON billing_ledger (coalesce(finished_at, recorded_at));
  PRAGMA user_version = 1;`;

export function postgresV1(schema: string): string {
  return `CREATE SCHEMA "${schema}";
    CREATE TABLE "${schema}".billing_ledger_schema (version integer NOT NULL);
    INSERT INTO "${schema}".billing_ledger_schema (version) VALUES (1);
    CREATE TABLE "${schema}".billing_ledger (
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
    CREATE INDEX billing_ledger_finished_idx ON "${schema}".billing_ledger ((coalesce(finished_at, recorded_at)));`;
}

/** A row as version 1 wrote it (columns in its order). */
export const V1_ROW = {
  batch_id: 'batch_old',
  provider: 'openai',
  endpoint: '/v1/chat/completions',
  model: 'gpt-4o-mini',
  status: 'completed',
  total: 10,
  completed: 9,
  billed: 9,
  failed: 1,
  not_run: 0,
  input_tokens: 1000,
  output_tokens: 500,
  total_tokens: 1500,
  estimated_cost_usd: 0.000412,
  cancel_requested_at: null,
  cancel_reason: null,
  cancel_requested_by: null,
  created_at: '2026-01-10T08:00:00.000Z',
  finished_at: '2026-01-10T09:00:00.000Z',
  recorded_at: '2026-01-10T09:00:05.000Z',
  workflow_id: 'batch-batch_old',
};

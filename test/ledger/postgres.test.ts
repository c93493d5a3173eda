import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { openLedger } from '../../src/ledger';
import { openPostgresLedger, POSTGRES_SCHEMA_VERSION } from '../../src/ledger/postgres';
import { describeLedgerBehaviour } from './ledger-suite';
import { row } from './fixtures';
import { V1_ROW, postgresV1 } from './schema-v1';
import { usePostgresDatabase } from '../helpers/postgres-database';

const url = process.env.BATCHKEEPER_TEST_DATABASE_URL;
const inCi = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
const HOW = 'start one with: eval "$(scripts/start-postgres.sh)"';
/** This file's own database on that server: `public` is not shared with other files or test runs. */
const database = url ? usePostgresDatabase(url) : () => '';

async function sql<T extends object = Record<string, unknown>>(
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: database() });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Each test gets its own schema, so runs never see each other's rows or another module's tables. */
function freshSchema(): string {
  return `bk_ledger_test_${randomBytes(6).toString('hex')}`;
}

if (!url) {
  if (inCi) {
    test('Postgres ledger suite needs BATCHKEEPER_TEST_DATABASE_URL', () => {
      throw new Error(
        `BATCHKEEPER_TEST_DATABASE_URL is not set in CI, so the Postgres ledger went untested; ${HOW}`,
      );
    });
  } else {
    console.warn(`SKIPPING the Postgres ledger suite: BATCHKEEPER_TEST_DATABASE_URL is not set; ${HOW}`);
    describe.skip('Postgres ledger (BATCHKEEPER_TEST_DATABASE_URL not set)', () => {
      test('skipped', () => undefined);
    });
  }
} else {
  describe('Postgres ledger', () => {
    describeLedgerBehaviour(async () => {
      const schema = freshSchema();
      return {
        open: () => openPostgresLedger({ connectionString: database(), schema }),
        dispose: async () => void (await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)),
      };
    });

    describe('schema', () => {
      let schema: string;
      beforeEach(() => {
        schema = freshSchema();
      });
      afterEach(async () => {
        await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      });

      test('workers starting at once all migrate the same fresh schema without colliding', async () => {
        const ledgers = await Promise.all(
          Array.from({ length: 5 }, () => openPostgresLedger({ connectionString: database(), schema })),
        );
        try {
          const versions = await sql<{ version: number }>(
            `SELECT version FROM "${schema}".billing_ledger_schema`,
          );
          expect(versions).toEqual([{ version: POSTGRES_SCHEMA_VERSION }]);
          await ledgers[0].record(row());
          expect(await ledgers[4].get('batch_1')).toEqual(row());
        } finally {
          for (const l of ledgers) await l.close();
        }
      });

      test('a ledger written by schema version 1 gains the discrepancies column and keeps its rows', async () => {
        const client = new Client({ connectionString: database() });
        await client.connect();
        try {
          await client.query(postgresV1(schema));
          const cols = Object.keys(V1_ROW);
          await client.query(
            `INSERT INTO "${schema}".billing_ledger (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
            Object.values(V1_ROW),
          );
        } finally {
          await client.end();
        }
        const ledger = await openPostgresLedger({ connectionString: database(), schema });
        try {
          expect(await ledger.get('batch_old')).toEqual(
            row({ batchId: 'batch_old', workflowId: 'batch-batch_old', discrepancies: null }),
          );
          await ledger.record(row({ batchId: 'batch_old', discrepancies: ['counts missing'] }));
          expect((await ledger.get('batch_old'))?.discrepancies).toEqual(['counts missing']);
        } finally {
          await ledger.close();
        }
        const again = await openPostgresLedger({ connectionString: database(), schema });
        expect((await again.get('batch_old'))?.discrepancies).toEqual(['counts missing']);
        await again.close();
        expect(await sql(`SELECT version FROM "${schema}".billing_ledger_schema`)).toEqual([
          { version: POSTGRES_SCHEMA_VERSION },
        ]);
        expect(POSTGRES_SCHEMA_VERSION).toBe(2);
      });

      test('refuses a schema written by a newer batchkeeper', async () => {
        await (await openPostgresLedger({ connectionString: database(), schema })).close();
        await sql(`UPDATE "${schema}".billing_ledger_schema SET version = version + 1`);
        await expect(openPostgresLedger({ connectionString: database(), schema })).rejects.toThrow(/newer/);
      });

      test('stores times as timestamptz and tokens as bigint', async () => {
        const ledger = await openPostgresLedger({ connectionString: database(), schema });
        await ledger.close();
        const cols = await sql<{ column_name: string; data_type: string }>(
          `SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = $1 AND table_name = 'billing_ledger' AND column_name IN ('finished_at', 'input_tokens')
           ORDER BY column_name`,
          [schema],
        );
        expect(cols).toEqual([
          { column_name: 'finished_at', data_type: 'timestamp with time zone' },
          { column_name: 'input_tokens', data_type: 'bigint' },
        ]);
      });

      test('rejects a schema name that could inject SQL', async () => {
        await expect(
          openPostgresLedger({ connectionString: database(), schema: 'x"; DROP TABLE y; --' }),
        ).rejects.toThrow(/invalid Postgres schema/);
      });
    });

    test('openLedger picks Postgres for a postgres:// URL', async () => {
      const ledger = await openLedger({
        databaseUrl: database(),
        sqlitePath: '/nonexistent/never.sqlite',
      });
      const batchId = `batch_openledger_${randomBytes(4).toString('hex')}`;
      try {
        expect(await ledger.record(row({ batchId }))).toEqual({ inserted: true });
        const found = await sql<{ billed: number }>(
          'SELECT billed FROM public.billing_ledger WHERE batch_id = $1',
          [batchId],
        );
        expect(found).toEqual([{ billed: 9 }]);
      } finally {
        await sql('DELETE FROM public.billing_ledger WHERE batch_id = $1', [batchId]);
        await ledger.close();
      }
    });
  });
}

// End to end with the Postgres ledger: the worker child gets BATCHKEEPER_DATABASE_URL and records the bill there.
import { Client } from 'pg';
import { usePostgresDatabase } from '../helpers/postgres-database';
import { createBatch } from './harness';
import { E2E_TIMEOUT_MS, TRACK_FAST, expectResultsOnDisk, useE2EWorld } from './world';

const url = process.env.BATCHKEEPER_TEST_DATABASE_URL;
const inCi = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
const HOW = 'start one with: eval "$(bash scripts/start-postgres.sh)"';

async function sql<T extends object = Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  params: unknown[],
): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

if (!url) {
  if (inCi) {
    test('the Postgres ledger end to end needs BATCHKEEPER_TEST_DATABASE_URL', () => {
      throw new Error(
        `BATCHKEEPER_TEST_DATABASE_URL is not set in CI, so the Postgres ledger went untested end to end; ${HOW}`,
      );
    });
  } else {
    console.warn(
      `SKIPPING the end-to-end Postgres ledger test: BATCHKEEPER_TEST_DATABASE_URL is not set; ${HOW}`,
    );
    describe.skip('Postgres ledger end to end (BATCHKEEPER_TEST_DATABASE_URL not set)', () => {
      test('skipped', () => undefined);
    });
  }
} else {
  // The worker migrates and writes `public`: in a database of this file's own, dropped after it.
  const database = usePostgresDatabase(url);
  const e2e = useE2EWorld();

  test(
    'a completed batch is billed once in Postgres, with results on disk',
    async () => {
      const databaseUrl = database();
      const w = await e2e.start({ databaseUrl, emulator: { requestSeconds: 0.1 } });
      const { batchId } = await createBatch(w.openai, 20, 'pg');

      expect((await w.cli(['track', batchId, ...TRACK_FAST])).code).toBe(0);
      const outcome = await w.bk.waitForOutcome(batchId, { timeoutMs: 90_000 });
      const billing = { total: 20, completed: 20, billed: 20, failed: 0, notRun: 0 };
      expect(outcome).toMatchObject({ status: 'completed', billing });

      // Straight from the table, not through our ledger code: what finance's SQL would see.
      const rows = await sql<{ status: string; billed: number; not_run: number; workflow_id: string }>(
        databaseUrl,
        'SELECT status, billed, not_run, workflow_id FROM public.billing_ledger WHERE batch_id = $1',
        [batchId],
      );
      expect(rows).toEqual([
        { status: 'completed', billed: 20, not_run: 0, workflow_id: `batch-${batchId}` },
      ]);
      const viaLedger = await w.ledgerRows(batchId);
      expect(viaLedger).toHaveLength(1);
      expect(viaLedger[0]).toMatchObject({ batchId, provider: 'emulator', ...billing });

      // `batchkeeper billing --database-url` reads it back, and nothing else: the database is this file's.
      const report = await w.cli(['billing', '--database-url', databaseUrl, '--json']);
      expect(report.code).toBe(0);
      expect(JSON.parse(report.stdout)).toEqual([expect.objectContaining({ batchId, ...billing })]);

      expectResultsOnDisk(outcome, w, { succeeded: 20, failed: 0 });
    },
    E2E_TIMEOUT_MS,
  );
}

import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/**
 * A database of its own for one test file on the server BATCHKEEPER_TEST_DATABASE_URL names, created before its
 * tests and dropped after them. The ledger's default tables live in `public`, which every file (and every other
 * checkout's test run on the same server, each perhaps at another schema version) would otherwise share: jest
 * runs files in parallel, and a `public` migrated by a newer branch is refused by this one.
 * Returns a getter for the new database's URL, usable from beforeAll on.
 */
export function usePostgresDatabase(serverUrl: string): () => string {
  const name = `bk_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  let url: string | undefined;
  beforeAll(async () => {
    await admin(serverUrl, `CREATE DATABASE "${name}"`);
    const u = new URL(serverUrl);
    u.pathname = `/${name}`;
    url = u.toString();
  });
  afterAll(async () => {
    // FORCE: a pool a failed test left open must not keep the database alive.
    if (url) await admin(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
  return () => {
    if (!url) throw new Error('the test database is only there inside tests (beforeAll ran first)');
    return url;
  };
}

async function admin(serverUrl: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

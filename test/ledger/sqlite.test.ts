import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteLedger, SQLITE_SCHEMA_VERSION } from '../../src/ledger/sqlite';
import { describeLedgerBehaviour } from './ledger-suite';
import { row } from './fixtures';
import { SQLITE_V1, V1_ROW } from './schema-v1';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'bk-ledger-'));
}

describe('SQLite ledger', () => {
  describeLedgerBehaviour(async () => {
    const dir = tempDir();
    const path = join(dir, 'ledger.sqlite');
    return {
      open: async () => openSqliteLedger(path),
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });

  describe('file', () => {
    let dir: string;
    beforeEach(() => {
      dir = tempDir();
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    test('creates missing parent directories, uses WAL and records its schema version', async () => {
      const path = join(dir, 'a', 'b', 'ledger.sqlite');
      const ledger = openSqliteLedger(path);
      await ledger.record(row());
      await ledger.close();

      expect(existsSync(path)).toBe(true);
      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
        expect(SQLITE_SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
        expect(db.prepare('SELECT count(*) FROM billing_ledger').pluck().get()).toBe(1);
      } finally {
        db.close();
      }
    });

    test('a ledger written by schema version 1 gains the discrepancies column and keeps its rows', async () => {
      const path = join(dir, 'v1.sqlite');
      const old = new Database(path);
      old.exec(SQLITE_V1);
      const cols = Object.keys(V1_ROW);
      old
        .prepare(
          `INSERT INTO billing_ledger (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`,
        )
        .run(V1_ROW);
      old.close();

      const ledger = openSqliteLedger(path);
      expect(await ledger.get('batch_old')).toEqual(
        row({ batchId: 'batch_old', workflowId: 'batch-batch_old', discrepancies: null }),
      );
      await ledger.record(row({ batchId: 'batch_old', discrepancies: ['counts missing'] }));
      expect((await ledger.get('batch_old'))?.discrepancies).toEqual(['counts missing']);
      await ledger.close();
      // Opening again runs no migration twice (a second ADD COLUMN would fail).
      const again = openSqliteLedger(path);
      expect((await again.get('batch_old'))?.discrepancies).toEqual(['counts missing']);
      await again.close();

      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
        expect(SQLITE_SCHEMA_VERSION).toBe(2);
      } finally {
        db.close();
      }
    });

    test('refuses a file written by a newer schema instead of misreading it', () => {
      const path = join(dir, 'future.sqlite');
      const db = new Database(path);
      db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
      db.close();
      expect(() => openSqliteLedger(path)).toThrow(/newer/);
    });

    test('the database enforces a terminal status even for writes that bypass the ledger', async () => {
      const path = join(dir, 'l.sqlite');
      await openSqliteLedger(path).close();
      const db = new Database(path);
      try {
        expect(() =>
          db
            .prepare(
              `INSERT INTO billing_ledger (batch_id, provider, endpoint, status, total, completed, billed, failed,
               not_run, recorded_at, workflow_id) VALUES ('x', 'p', 'e', 'in_progress', 0, 0, 0, 0, 0, 'now', 'w')`,
            )
            .run(),
        ).toThrow(/CHECK/);
      } finally {
        db.close();
      }
    });
  });
});

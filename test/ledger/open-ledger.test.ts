import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SQLITE_PATH, openLedger } from '../../src/ledger';
import { row } from './fixtures';

describe('openLedger', () => {
  let dir: string;
  const cwd = process.cwd();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bk-open-'));
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  test('without a URL it is a SQLite file at the given path', async () => {
    const path = join(dir, 'sub', 'l.sqlite');
    const ledger = await openLedger({ sqlitePath: path });
    await ledger.record(row());
    await ledger.close();
    expect(existsSync(path)).toBe(true);
    const again = await openLedger({ sqlitePath: path, databaseUrl: '  ' });
    expect(await again.get('batch_1')).toEqual(row());
    await again.close();
  });

  test('defaults to ./.data/ledger.sqlite under the working directory', async () => {
    expect(DEFAULT_SQLITE_PATH).toBe('./.data/ledger.sqlite');
    process.chdir(dir);
    const ledger = await openLedger();
    await ledger.close();
    expect(existsSync(join(dir, '.data', 'ledger.sqlite'))).toBe(true);
  });

  test('a URL that is not Postgres is refused, with its password hidden', async () => {
    const attempt = openLedger({
      databaseUrl: 'mysql://bob:hunter2@db/ledger',
      sqlitePath: join(dir, 'x.sqlite'),
    });
    await expect(attempt).rejects.toThrow(/unsupported ledger database URL/);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
    expect(existsSync(join(dir, 'x.sqlite'))).toBe(false);
  });

  test('an unreachable Postgres fails to open instead of falling back to SQLite', async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    await expect(openLedger({ databaseUrl: 'postgresql://u@127.0.0.1:1/db' })).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });
});

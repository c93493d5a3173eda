import type { Ledger, LedgerRow } from '../../src/ledger/types';
import { row } from './fixtures';

/** A fresh, empty store; `open` may be called more than once and every ledger opened sees the same data. */
export interface StoreFactory {
  open(): Promise<Ledger>;
  dispose(): Promise<void>;
}

/** The behaviour every Ledger implementation must show; run against SQLite and Postgres alike. */
export function describeLedgerBehaviour(makeStore: () => Promise<StoreFactory>): void {
  let store: StoreFactory;
  let ledger: Ledger;
  const opened: Ledger[] = [];
  const open = async () => {
    const l = await store.open();
    opened.push(l);
    return l;
  };

  beforeEach(async () => {
    store = await makeStore();
    ledger = await open();
  });

  afterEach(async () => {
    for (const l of opened.splice(0)) await l.close();
    await store.dispose();
  });

  test('recording the same batch three times keeps one row with the last values', async () => {
    const first = row({
      status: 'cancelled',
      completed: 3,
      billed: 3,
      notRun: 6,
      recordedAt: '2026-01-10T09:00:01Z',
    });
    const second = row({ completed: 5, billed: 5, notRun: 4, recordedAt: '2026-01-10T09:00:02Z' });
    const third = row({
      completed: 9,
      billed: 9,
      notRun: 0,
      estimatedCostUsd: 1.25,
      cancelReason: 'changed',
      recordedAt: '2026-01-10T09:00:03.000Z',
      workflowId: 'batch-batch_1-retry',
    });

    expect(await ledger.record(first)).toEqual({ inserted: true });
    expect(await ledger.record(second)).toEqual({ inserted: false });
    expect(await ledger.record(third)).toEqual({ inserted: false });

    const all = await ledger.list();
    expect(all).toHaveLength(1);
    expect(all[0]).toEqual(third);
    expect(await ledger.get('batch_1')).toEqual(third);
  });

  test('a later write that lost values (tokens, model, cost, cancel, times) keeps the ones the row had', async () => {
    const good = row({
      status: 'cancelled',
      cancelRequestedAt: '2026-01-10T08:30:00.000Z',
      cancelReason: 'budget',
      cancelRequestedBy: 'svc:billing',
    });
    // A retry whose results download failed: no tokens, no model, so no cost; the provider's times unset.
    const worse = row({
      status: 'cancelled',
      model: null,
      inputTokens: null,
      outputTokens: null,
      totalTokens: null,
      estimatedCostUsd: null,
      cancelRequestedAt: null,
      cancelReason: null,
      cancelRequestedBy: null,
      createdAt: null,
      finishedAt: null,
      recordedAt: '2026-01-10T09:10:00.000Z',
      workflowId: 'batch-batch_1-rerun',
    });
    await ledger.record(good);
    expect(await ledger.record(worse)).toEqual({ inserted: false });
    const kept = { ...good, recordedAt: worse.recordedAt, workflowId: worse.workflowId };
    expect(await ledger.get('batch_1')).toEqual(kept);
    expect(await ledger.list()).toEqual([kept]);
  });

  test('a later write with values replaces them; counts and status come from the newer write', async () => {
    await ledger.record(row({ model: null, inputTokens: null, outputTokens: null, totalTokens: null }));
    const better = row({
      model: 'gpt-4o',
      completed: 10,
      billed: 10,
      failed: 0,
      inputTokens: 2000,
      outputTokens: 700,
      totalTokens: 2700,
      estimatedCostUsd: 0.00975,
      cancelReason: 'late reason',
      recordedAt: '2026-01-10T09:10:00.000Z',
    });
    await ledger.record(better);
    expect(await ledger.get('batch_1')).toEqual(better);
    // Counts are not nullable: a newer write's zeros replace them (a terminal batch's counts do not change).
    const zeros = row({ total: 0, completed: 0, billed: 0, failed: 0, notRun: 0, model: null });
    await ledger.record(zeros);
    expect(await ledger.get('batch_1')).toMatchObject({ total: 0, billed: 0, model: 'gpt-4o' });
  });

  test('discrepancies round-trip as a list, and a later write without any keeps the flag', async () => {
    const flagged = row({
      discrepancies: ['request_counts missing', 'results: 9 succeeded lines but completed = 8, "sic"'],
    });
    await ledger.record(flagged);
    expect(await ledger.get('batch_1')).toEqual(flagged);
    await ledger.record(row({ recordedAt: '2026-01-10T09:10:00.000Z' }));
    expect((await ledger.get('batch_1'))?.discrepancies).toEqual(flagged.discrepancies);
    const other = row({ discrepancies: ['counts inconsistent'], recordedAt: '2026-01-10T09:20:00.000Z' });
    await ledger.record(other);
    expect(await ledger.list()).toEqual([other]);
  });

  test('a row without an endpoint (a provider that omits it) is recorded and does not erase a known one', async () => {
    expect(await ledger.record(row({ batchId: 'b_noend', endpoint: '' }))).toEqual({ inserted: true });
    expect((await ledger.get('b_noend'))?.endpoint).toBe('');
    await ledger.record(row());
    await ledger.record(row({ endpoint: '', recordedAt: '2026-01-10T09:10:00.000Z' }));
    expect((await ledger.get('batch_1'))?.endpoint).toBe('/v1/chat/completions');
  });

  test('get returns null for an unknown batch', async () => {
    await ledger.record(row());
    expect(await ledger.get('batch_missing')).toBeNull();
  });

  test('round-trips every field, nulls, big token counts and free text unchanged', async () => {
    const full = row({
      batchId: 'batch_full',
      status: 'cancelled',
      model: 'qwen-plus',
      provider: 'dashscope',
      inputTokens: 5_000_000_000, // beyond 32-bit: tokens of 50,000 long requests
      outputTokens: 123_456_789,
      totalTokens: 5_123_456_789,
      estimatedCostUsd: 1234.567891,
      cancelRequestedAt: '2026-01-10T08:30:00.123Z',
      cancelReason: 'budget, "Q1" \n freeze – ünïcode',
      cancelRequestedBy: 'svc:billing',
    });
    const sparse = row({
      batchId: 'batch_sparse',
      status: 'failed',
      model: null,
      total: 0,
      completed: 0,
      billed: 0,
      failed: 0,
      inputTokens: null,
      outputTokens: null,
      totalTokens: null,
      estimatedCostUsd: null,
      createdAt: null,
      finishedAt: null,
    });
    await ledger.record(full);
    await ledger.record(sparse);
    expect(await ledger.get('batch_full')).toEqual(full);
    expect(await ledger.get('batch_sparse')).toEqual(sparse);
  });

  test('stores times in one canonical UTC ISO form whatever form they came in', async () => {
    await ledger.record(
      row({
        createdAt: '2026-01-10T10:00:00+02:00',
        finishedAt: '2026-01-10T09:00:00Z',
        recordedAt: '2026-01-10T09:00:05.5Z',
      }),
    );
    const got = await ledger.get('batch_1');
    expect(got?.createdAt).toBe('2026-01-10T08:00:00.000Z');
    expect(got?.finishedAt).toBe('2026-01-10T09:00:00.000Z');
    expect(got?.recordedAt).toBe('2026-01-10T09:00:05.500Z');
  });

  test('rejects invalid rows and writes nothing', async () => {
    await expect(ledger.record(row({ status: 'in_progress' as never }))).rejects.toThrow(/not terminal/);
    await expect(ledger.record(row({ billed: -1 }))).rejects.toThrow(/billed/);
    await expect(ledger.record(row({ inputTokens: 1.5 }))).rejects.toThrow(/inputTokens/);
    await expect(ledger.record(row({ finishedAt: 'yesterday' }))).rejects.toThrow(/finishedAt/);
    await expect(ledger.record(row({ batchId: '' }))).rejects.toThrow(/batchId/);
    expect(await ledger.list()).toEqual([]);
  });

  describe('list', () => {
    const rows: LedgerRow[] = [
      row({
        batchId: 'b_jan_oai',
        provider: 'openai',
        status: 'completed',
        finishedAt: '2026-01-05T00:00:00.000Z',
      }),
      row({
        batchId: 'b_feb_ds',
        provider: 'dashscope',
        status: 'cancelled',
        finishedAt: '2026-02-01T00:00:00.000Z',
      }),
      row({
        batchId: 'b_feb_oai',
        provider: 'openai',
        status: 'expired',
        finishedAt: '2026-02-01T00:00:00.000Z',
      }),
      // No finish time known: placed and filtered by when it was recorded.
      row({
        batchId: 'b_nofinish',
        provider: 'openai',
        status: 'failed',
        finishedAt: null,
        recordedAt: '2026-01-20T00:00:00.000Z',
      }),
      row({
        batchId: 'b_mar_ds',
        provider: 'dashscope',
        status: 'completed',
        finishedAt: '2026-03-02T12:00:00.000Z',
      }),
    ];
    const ids = (rs: LedgerRow[]) => rs.map((r) => r.batchId);

    beforeEach(async () => {
      // Insert out of order so ordering must come from the query.
      for (const r of [rows[4], rows[2], rows[0], rows[3], rows[1]]) await ledger.record(r);
    });

    test('orders by finish time, falling back to record time, ties by batch id', async () => {
      expect(ids(await ledger.list())).toEqual([
        'b_jan_oai',
        'b_nofinish',
        'b_feb_ds',
        'b_feb_oai',
        'b_mar_ds',
      ]);
    });

    test('since is inclusive, until exclusive', async () => {
      const since = new Date('2026-02-01T00:00:00.000Z');
      expect(ids(await ledger.list({ since }))).toEqual(['b_feb_ds', 'b_feb_oai', 'b_mar_ds']);
      expect(ids(await ledger.list({ until: since }))).toEqual(['b_jan_oai', 'b_nofinish']);
      expect(
        ids(
          await ledger.list({
            since: new Date('2026-01-15T00:00:00Z'),
            until: new Date('2026-03-01T00:00:00Z'),
          }),
        ),
      ).toEqual(['b_nofinish', 'b_feb_ds', 'b_feb_oai']);
    });

    test('filters by provider and status, combined with time', async () => {
      expect(ids(await ledger.list({ provider: 'dashscope' }))).toEqual(['b_feb_ds', 'b_mar_ds']);
      expect(ids(await ledger.list({ status: 'completed' }))).toEqual(['b_jan_oai', 'b_mar_ds']);
      expect(ids(await ledger.list({ provider: 'openai', status: 'failed' }))).toEqual(['b_nofinish']);
      expect(ids(await ledger.list({ provider: 'openai', since: new Date('2026-01-10T00:00:00Z') }))).toEqual(
        ['b_nofinish', 'b_feb_oai'],
      );
      expect(await ledger.list({ provider: 'nobody' })).toEqual([]);
    });

    test('returns full rows', async () => {
      expect(await ledger.list({ provider: 'dashscope', status: 'cancelled' })).toEqual([rows[1]]);
    });
  });

  test('a second ledger on the same store sees the rows and does not insert again', async () => {
    await ledger.record(row());
    const other = await open();
    expect(await other.get('batch_1')).toEqual(row());
    expect(await other.record(row({ completed: 10, billed: 10, failed: 0 }))).toEqual({ inserted: false });
    expect((await ledger.get('batch_1'))?.billed).toBe(10);
    expect(await ledger.list()).toHaveLength(1);
  });

  test('rows survive closing and reopening', async () => {
    await ledger.record(row());
    await ledger.close();
    const reopened = await open();
    expect(await reopened.get('batch_1')).toEqual(row());
  });

  test('concurrent records of one batch make one row and report exactly one insert', async () => {
    const other = await open();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? other : ledger).record(row({ recordedAt: `2026-01-10T09:00:0${i}Z` })),
      ),
    );
    expect(results.filter((r) => r.inserted)).toHaveLength(1);
    expect(await ledger.list()).toHaveLength(1);
  });
}

// The CI short form of the fault matrix (`npm run faults`, docs/faults.md): a few cells through the same code as
// the script, on real processes (dev server, the worker in its own process group, the emulator over HTTP), each
// counted from the provider and the ledger. Every loss column must be 0 and every fault must have happened.
import { rmSync } from 'node:fs';
import { CELLS, runCell, type CellResult } from '../../scripts/faults/cells';
import { LOSS_COLUMNS } from '../../scripts/faults/count';
import { startTemporalServer, type TemporalServer } from '../../scripts/faults/temporal';
import { stopAll, tempDir } from './harness';

/** Cells that recover without waiting out a dead worker's activity timeouts: they fit CI's time. */
const SHORT = ['restart-temporal', 'restart-emulator', 'fault-429'];

let temporal: TemporalServer;
const dir = tempDir('faults-short');

beforeAll(async () => {
  temporal = await startTemporalServer(dir);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await temporal?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(`fault matrix, short form (${SHORT.join(', ')}): nothing duplicated, lost, misbilled or stuck`, async () => {
  const cells = CELLS.filter((c) => SHORT.includes(c.id));
  expect(cells.map((c) => c.id)).toEqual(SHORT);
  const results: CellResult[] = await Promise.all(
    cells.map((c) => runCell(temporal, c, { shape: { parts: 2, completeLines: 6, cancelLines: 300 } })),
  );
  for (const r of results) {
    const context = `${r.id}: ${r.notes.join('; ')}\n${JSON.stringify(r.counts)}`;
    expect({ id: r.id, injected: r.injected }).toEqual({ id: r.id, injected: true });
    // The workload ran: every part has its batch, the cancelled ones reached the provider, rows were written.
    expect(r.counts.batches).toBe(r.counts.parts);
    expect(r.counts.cancelRequests).toBeGreaterThan(0);
    expect(r.counts.cancelCalls).toBeGreaterThanOrEqual(r.counts.cancelRequests);
    expect(r.counts.ledgerRows).toBe(r.counts.batches);
    expect(r.counts.resultFiles).toBeGreaterThan(0);
    const lossy = Object.fromEntries(LOSS_COLUMNS.map((k) => [k, r.counts[k]]));
    expect([context, lossy]).toEqual([context, Object.fromEntries(LOSS_COLUMNS.map((k) => [k, 0]))]);
  }
  // The provider faults did fire.
  expect(results.find((r) => r.id === 'fault-429')?.counts.faultedCalls).toBeGreaterThan(0);
  // 37-86 s alone; a CI run on 2 busy cores once took over 150 s: room for that, not a cap on correctness.
}, 420_000);

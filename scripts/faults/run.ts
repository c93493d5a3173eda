/**
 * The fault matrix (npm run faults; docs/faults.md): every crash point and provider fault in CELLS, each in a
 * world of its own on one Temporal dev server, counted from the provider and the ledger. Writes
 * reports/faults.md and reports/faults.json (or --out DIR); exits 1 when any loss column is not 0 or a fault was
 * not injected.
 *
 *   npm run faults                          every cell
 *   npm run faults -- --cells crash-after-create,fault-429
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, stopAll, tempDir } from '../../test/e2e/harness';
import { CELLS, WINDOW_CELLS, runCell, type CellResult } from './cells';
import { losses, markdown, totalsLine, writeReport } from './report';
import { startTemporalServer } from './temporal';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const started = Date.now();
  const only = arg('--cells')
    ?.split(',')
    .map((s) => s.trim());
  const known = [...CELLS, ...WINDOW_CELLS];
  const unknown = only?.filter((id) => !known.some((c) => c.id === id)) ?? [];
  if (unknown.length > 0)
    throw new Error(`unknown cells: ${unknown.join(', ')} (known: ${known.map((c) => c.id).join(', ')})`);
  const cells = only ? known.filter((c) => only.includes(c.id)) : CELLS;
  const out = arg('--out') ?? join(REPO, 'reports');
  const log = (line: string) => process.stderr.write(`[faults] ${line}\n`);
  const dir = tempDir('faults-temporal');
  const temporal = await startTemporalServer(dir);
  // Ctrl-C: the workers (own process groups) and the dev server go too.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      log(`${sig}: stopping`);
      void Promise.allSettled([stopAll(1000), temporal.stop()]).then(() => process.exit(130));
    });
  const parallel = Math.max(1, Number(arg('--parallel') ?? 5));
  const results: CellResult[] = new Array<CellResult>(cells.length);
  let next = 0;
  try {
    // Cells mostly wait (on the timeouts that detect a dead worker): several at once keep the run short.
    await Promise.all(
      Array.from({ length: Math.min(parallel, cells.length) }, async () => {
        while (next < cells.length) {
          const i = next++;
          const cell = cells[i];
          log(`${cell.id}: ${cell.what}`);
          const r = await runCell(temporal, cell, { log });
          results[i] = r;
          log(
            `  ${cell.id}: ${losses(r)} losses, ${(r.wallMs / 1000).toFixed(0)} s${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`,
          );
        }
      }),
    );
  } finally {
    await temporal.stop().catch(() => undefined);
    await stopAll();
    if (!process.env.BK_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  }
  const meta = {
    command: `npm run faults${only ? ` -- --cells ${only.join(',')}` : ''}`,
    wallMs: Date.now() - started,
    at: new Date().toISOString(),
  };
  const files = writeReport(out, results, meta);
  process.stdout.write(markdown(results, meta));
  log(`report: ${files.md}, ${files.json}`);
  log(totalsLine(results));
  return results.every((r) => r.kind === 'window' || (r.injected && losses(r) === 0)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[faults] ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);

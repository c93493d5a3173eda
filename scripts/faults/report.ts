// The matrix as a table (markdown and JSON) with the totals line the README quotes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOSS_COLUMNS, type CellCounts } from './count';
import type { CellResult } from './cells';

const COLUMNS: [keyof CellCounts, string][] = [
  ['parts', 'parts'],
  ['batches', 'batches'],
  ['duplicateBatches', 'dup. batches'],
  ['missingBatches', 'missing batches'],
  ['cancelRequests', 'cancel req.'],
  ['cancelCalls', 'cancel calls'],
  ['cancelLatencyS', 'cancel → provider s (max)'],
  ['cancelTooLate', 'ended before the cancel'],
  ['lostCancels', 'lost cancels'],
  ['ledgerRows', 'ledger rows'],
  ['doubleRows', 'double rows'],
  ['missingRows', 'missing rows'],
  ['wrongBills', 'wrong bills'],
  ['resultFiles', 'result files'],
  ['resultMismatches', 'sha256 mismatches'],
  ['strayTempFiles', 'temp files left'],
  ['orphanUploads', 'orphan uploads'],
  ['remoteFilesLeft', 'files left'],
  ['stuckWorkflows', 'stuck'],
  ['providerCalls', 'calls'],
  ['faultedCalls', 'faulted'],
];

export function losses(r: CellResult): number {
  return LOSS_COLUMNS.reduce((n, k) => n + r.counts[k], 0);
}

export function totals(results: CellResult[]): CellCounts {
  const t = Object.fromEntries(COLUMNS.map(([k]) => [k, 0])) as unknown as CellCounts;
  for (const r of results)
    for (const [k] of COLUMNS)
      t[k] = k === 'cancelLatencyS' ? Math.max(t[k], r.counts[k]) : t[k] + r.counts[k];
  return t;
}

/** The matrix proper: known windows are shown apart and kept out of the totals. */
const matrix = (results: CellResult[]) => results.filter((r) => r.kind !== 'window');

export function totalsLine(all: CellResult[]): string {
  const results = matrix(all);
  const t = totals(results);
  const points = results.filter((r) => r.kind !== 'fault').length;
  const faults = results.filter((r) => r.kind === 'fault').length;
  return (
    `${points} crash points + ${faults} provider faults = ` +
    `${results.length} cells, each × 2 scenarios (a submission run to completion, one cancelled), ` +
    `${t.batches} batches: ${t.duplicateBatches} duplicate batches, ${t.doubleRows} double rows, ` +
    `${t.lostCancels} lost cancels, ${t.wrongBills} wrong bills, ${t.missingRows} missing rows, ` +
    `${t.resultMismatches} result files off by sha256, ${t.orphanUploads} orphaned uploads, ${t.stuckWorkflows} stuck workflows`
  );
}

export function markdown(all: CellResult[], meta: { command: string; wallMs: number; at: string }): string {
  const head = ['cell', 'injected', ...COLUMNS.map(([, h]) => h), 'wall s'];
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const cellRow = (r: CellResult) =>
    row([
      r.id,
      r.injected ? 'yes' : '**no**',
      ...COLUMNS.map(([k]) => r.counts[k]),
      (r.wallMs / 1000).toFixed(0),
    ]);
  const windows = all.filter((r) => r.kind === 'window');
  const results = matrix(all);
  const t = totals(results);
  const lines = [
    '# Fault matrix',
    '',
    `\`${meta.command}\` at ${meta.at}, ${(meta.wallMs / 1000).toFixed(0)} s wall.`,
    '',
    `**${totalsLine(results)}.**`,
    '',
    row(head),
    row(head.map(() => '---')),
    ...results.map(cellRow),
    row(['**total**', '', ...COLUMNS.map(([k]) => t[k]), '']),
    '',
    ...(windows.length > 0
      ? [
          'Known windows (docs/faults.md: not safe yet, shown with what the user sees; not in the totals):',
          '',
          row(head),
          row(head.map(() => '---')),
          ...windows.map(cellRow),
          '',
        ]
      : []),
    'Cells:',
    '',
    ...all.map((r) => `- \`${r.id}\`: ${r.what}.${r.notes.length ? ` ${r.notes.join('; ')}.` : ''}`),
    '',
    `Loss columns (must be 0): ${LOSS_COLUMNS.join(', ')}. Counted from the emulator's store, files (sha256 of`,
    'what it served) and call log, the ledger file and the results directory; never from batchkeeper itself.',
    '',
  ];
  return lines.join('\n');
}

export function writeReport(
  dir: string,
  results: CellResult[],
  meta: { command: string; wallMs: number; at: string },
): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const md = join(dir, 'faults.md');
  const json = join(dir, 'faults.json');
  writeFileSync(md, markdown(results, meta));
  writeFileSync(
    json,
    `${JSON.stringify({ ...meta, totals: totals(results), totalsLine: totalsLine(results), cells: results }, null, 2)}\n`,
  );
  return { md, json };
}

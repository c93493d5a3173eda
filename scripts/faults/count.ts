// The numbers of one cell, taken from the provider (the emulator's store, files and call log) and the ledger
// file, never from what batchkeeper reports about itself.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openLedger } from '../../src/ledger';
import type { CellWorld } from './world';
import { providerBatchesOf, type Workload } from './workload';

export interface CellCounts {
  /** Parts submitted, and batches the provider holds for them. */
  parts: number;
  batches: number;
  /** Batches beyond one per part (loss: paid twice), and parts with no batch at all (loss: never ran). */
  duplicateBatches: number;
  missingBatches: number;
  /** Cancel requests (one per batch of the cancelled submission) and the cancel calls the provider logged. */
  cancelRequests: number;
  cancelCalls: number;
  /** Seconds from the cancel request to the last of its batches' first cancel call at the provider. */
  cancelLatencyS: number;
  /** Batches the provider had finished before the cancel was requested (not a loss). */
  cancelTooLate: number;
  /** Batches of a cancelled submission that did not end cancelled, or got no cancel call (loss). */
  lostCancels: number;
  ledgerRows: number;
  /** Ledger rows beyond one per batch, and batches with none (both losses). */
  doubleRows: number;
  missingRows: number;
  /** Rows whose billed count or status differs from the provider's final batch (loss). */
  wrongBills: number;
  /** Result files the provider served, and those not stored with the same sha256 (loss). */
  resultFiles: number;
  resultMismatches: number;
  /** Temp files of dead attempts left in the results store (loss: disk that is nobody's). */
  strayTempFiles: number;
  /** Uploads at the provider that no batch uses and nobody deleted (loss). */
  orphanUploads: number;
  /** Files still at the provider at the end (input, output, error files clean-up should have deleted). */
  remoteFilesLeft: number;
  /** Workflows not closed when the provider had been terminal for the poll cap plus the grace (loss). */
  stuckWorkflows: number;
  /** API calls the provider logged, and those answered with a fault (429, 5xx, no answer). */
  providerCalls: number;
  faultedCalls: number;
}

export function emptyCounts(): CellCounts {
  return {
    parts: 0,
    batches: 0,
    duplicateBatches: 0,
    missingBatches: 0,
    cancelRequests: 0,
    cancelCalls: 0,
    cancelLatencyS: 0,
    cancelTooLate: 0,
    lostCancels: 0,
    ledgerRows: 0,
    doubleRows: 0,
    missingRows: 0,
    wrongBills: 0,
    resultFiles: 0,
    resultMismatches: 0,
    strayTempFiles: 0,
    orphanUploads: 0,
    remoteFilesLeft: 0,
    stuckWorkflows: 0,
    providerCalls: 0,
    faultedCalls: 0,
  };
}

export const LOSS_COLUMNS = [
  'duplicateBatches',
  'missingBatches',
  'lostCancels',
  'doubleRows',
  'missingRows',
  'wrongBills',
  'resultMismatches',
  'strayTempFiles',
  'orphanUploads',
  'stuckWorkflows',
] as const satisfies readonly (keyof CellCounts)[];

const sha256 = (path: string): string | null => {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return null;
  }
};

export async function countCell(
  w: CellWorld,
  wl: Workload,
  stuck: (batchIds: string[]) => Promise<number>,
): Promise<CellCounts> {
  const emu = w.emulator();
  const calls = w.calls();
  const ledger = await openLedger({ sqlitePath: w.ledgerPath });
  const rows = await ledger.list().finally(() => ledger.close());
  const files = new Map(emu.files().map((f) => [f.id, f]));
  const c: CellCounts = {
    ...emptyCounts(),
    ledgerRows: rows.length,
    providerCalls: calls.length,
    faultedCalls: calls.filter((x) => x.status === 0 || x.status === 429 || x.status >= 500).length,
  };
  const allIds: string[] = [];
  for (const s of [wl.complete, wl.cancel]) {
    const mine = providerBatchesOf(w, s);
    c.parts += s.parts;
    c.batches += mine.length;
    for (let part = 0; part < s.parts; part++) {
      const n = mine.filter(
        (b) => emu.batch(b.id)?.record.metadata?.batchkeeper_workflow_id === `${s.workflowId}/r0/c${part}`,
      ).length;
      if (n === 0) c.missingBatches += 1;
      c.duplicateBatches += Math.max(0, n - 1);
    }
    for (const b of mine) {
      allIds.push(b.id);
      const peek = emu.batch(b.id);
      if (!peek) continue;
      const obj = peek.object as {
        status: string;
        request_counts: { completed: number };
        output_file_id: string | null;
        error_file_id: string | null;
      };
      if (s.cancelledAt !== null) {
        c.cancelRequests += 1;
        const mineCalls = calls.filter((x) => x.route === 'batches.cancel' && x.path.includes(b.id));
        const sent = mineCalls.length;
        c.cancelCalls += sent;
        if (sent > 0)
          c.cancelLatencyS = Math.max(c.cancelLatencyS, Math.round((mineCalls[0].at - s.cancelledAt) / 1000));
        // A batch the provider had finished before the cancel was even asked for cannot lose it (the emulator's
        // clock runs at wall speed here): counted apart, not as a loss.
        const endedAt = peek.state.completedAt ?? peek.state.failedAt ?? peek.state.expiredAt;
        if (endedAt !== undefined && endedAt * 1000 < s.cancelledAt) c.cancelTooLate += 1;
        else if (sent === 0 || obj.status !== 'cancelled') c.lostCancels += 1;
      }
      const mineRows = rows.filter((r) => r.batchId === b.id);
      if (mineRows.length === 0) c.missingRows += 1;
      c.doubleRows += Math.max(0, mineRows.length - 1);
      if (mineRows.some((r) => r.billed !== obj.request_counts.completed || r.status !== obj.status))
        c.wrongBills += 1;
      const manifest = readManifest(join(w.resultsDir, b.id));
      c.strayTempFiles += listDir(join(w.resultsDir, b.id)).filter((n) => n.endsWith('.tmp')).length;
      for (const fileId of [obj.output_file_id, obj.error_file_id]) {
        if (!fileId) continue;
        c.resultFiles += 1;
        const served = files.get(fileId)?.sha256;
        const stored = manifest?.files.find((f) => f.fileId === fileId);
        const onDisk = stored ? sha256(join(w.resultsDir, b.id, stored.name)) : null;
        if (!served || !stored || stored.sha256 !== served || onDisk !== served) c.resultMismatches += 1;
      }
    }
  }
  const inputs = new Set(emu.batches().map((b) => b.record.inputFileId));
  for (const f of files.values()) {
    if (f.deletedAt !== undefined) continue;
    c.remoteFilesLeft += 1;
    if (f.purpose === 'batch' && !inputs.has(f.id)) c.orphanUploads += 1;
  }
  c.stuckWorkflows = await stuck(allIds);
  return c;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readManifest(dir: string): { files: { fileId: string; name: string; sha256: string }[] } | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      files: { fileId: string; name: string; sha256: string }[];
    };
  } catch {
    return null;
  }
}

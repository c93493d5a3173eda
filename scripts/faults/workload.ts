// What every cell runs: submission A (parts that run to completion, some requests failing into an error file)
// and submission B (longer parts, cancelled once all of them exist at the provider), so one cell crosses
// submit, track, cancel, results, clean-up and billing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMULATOR_PROVIDER, sleep } from '../../test/e2e/harness';
import type { PollPolicy, SubmitWorkflowInput } from '../../workflows/contract';
import type { CellWorld } from './world';

/** Polls every second: "stuck" is judged against this cap. */
export const POLL_CAP_SECONDS = 1;
const FAST: Partial<PollPolicy> = {
  initialIntervalSeconds: 1,
  maxIntervalSeconds: POLL_CAP_SECONDS,
  minIntervalSeconds: 1,
  cancelPollIntervalSeconds: 1,
};

export interface WorkloadShape {
  /** Parts (batches) per submission and requests per part. */
  parts: number;
  completeLines: number;
  cancelLines: number;
}

/** At 1 s a request: A's parts run ~8 s, B's would run 5 minutes if nobody cancelled them. */
export const DEFAULT_SHAPE: WorkloadShape = { parts: 3, completeLines: 8, cancelLines: 300 };

export interface Submitted {
  name: string;
  workflowId: string;
  parts: number;
  /** Submission B's cancel: when it was sent (wall ms), null for A or when never sent. */
  cancelledAt: number | null;
}

export interface Workload {
  complete: Submitted;
  cancel: Submitted;
}

function writeJsonl(path: string, lines: number, tag: string): void {
  const rows = Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      custom_id: `${tag}-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `${tag} request ${i + 1}` }] },
    }),
  );
  writeFileSync(path, rows.join('\n') + '\n');
}

function input(path: string, linesPerPart: number): SubmitWorkflowInput {
  return {
    provider: EMULATOR_PROVIDER,
    submission: {
      source: { path },
      endpoint: '/v1/chat/completions',
      limits: { maxLines: linesPerPart },
    },
    pollPolicy: FAST,
  };
}

export async function submitWorkload(w: CellWorld, cell: string, shape: WorkloadShape): Promise<Workload> {
  const stamp = `${cell}-${Date.now()}`;
  const pathA = join(w.dir, 'complete.jsonl');
  const pathB = join(w.dir, 'cancel.jsonl');
  writeJsonl(pathA, shape.parts * shape.completeLines, `a-${stamp}`);
  writeJsonl(pathB, shape.parts * shape.cancelLines, `b-${stamp}`);
  const a = await w.submissions.submit(input(pathA, shape.completeLines), { name: `a-${stamp}` });
  const b = await w.submissions.submit(input(pathB, shape.cancelLines), { name: `b-${stamp}` });
  return {
    complete: { name: a.name, workflowId: a.workflowId, parts: shape.parts, cancelledAt: null },
    cancel: { name: b.name, workflowId: b.workflowId, parts: shape.parts, cancelledAt: null },
  };
}

/** Provider batches (peeked in the emulator, never through the code under test) created for a submission. */
export function providerBatchesOf(w: CellWorld, s: Submitted): { id: string; status: string }[] {
  return w
    .emulator()
    .batches()
    .filter((p) => (p.record.metadata?.batchkeeper_workflow_id ?? '').startsWith(`${s.workflowId}/`))
    .map((p) => ({ id: p.record.id, status: p.state.status }));
}

/** Sends B's cancel once all its parts exist at the provider, so every one of them must end cancelled. */
export async function cancelWhenCreated(w: CellWorld, wl: Workload, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (providerBatchesOf(w, wl.cancel).length >= wl.cancel.parts) break;
    await sleep(200);
  }
  wl.cancel.cancelledAt = Date.now();
  // Durable in Temporal whatever the worker is doing; retried here only while the server itself is down.
  for (;;) {
    try {
      await w.submissions.cancel(wl.cancel.name, { reason: 'fault matrix', requestedBy: 'faults' });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

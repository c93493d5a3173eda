import {
  isTerminal,
  type BatchStatus,
  type BillingTotals,
  type RequestCounts,
} from '../../workflows/contract';
import type { BatchStatusResult, ExecutionStatus } from '../client';

/** What the CLI shows of a status, whichever source answered. */
export interface StatusSummary {
  batchId: string;
  workflowId: string;
  execution: ExecutionStatus;
  source: BatchStatusResult['source'];
  /** The provider's batch status; null before the first poll or when only `describe` answered. */
  status: BatchStatus | null;
  counts: RequestCounts | null;
  billing: BillingTotals | null;
  cancelling: boolean;
  /** No further change will come: the batch is terminal or the workflow closed. */
  done: boolean;
}

export function summarize(result: BatchStatusResult): StatusSummary {
  const base = {
    batchId: result.batchId,
    workflowId: result.execution.workflowId,
    execution: result.execution.status,
    source: result.source,
  };
  const closed = result.execution.status !== 'running';
  if (result.source === 'query') {
    const { snapshot, billing, phase } = result.view;
    const status = snapshot?.status ?? null;
    return {
      ...base,
      status,
      counts: snapshot?.requestCounts ?? null,
      billing,
      cancelling: phase === 'cancelling',
      done: closed || (status !== null && isTerminal(status)),
    };
  }
  if (result.source === 'result') {
    const { outcome } = result;
    return {
      ...base,
      status: outcome.status,
      counts: outcome.snapshot.requestCounts,
      billing: outcome.billing,
      cancelling: false,
      done: true,
    };
  }
  return { ...base, status: null, counts: null, billing: null, cancelling: false, done: closed };
}

/** One line per observed change (non-TTY watch): stable text for logs and tests. */
export function progressLine(s: StatusSummary): string {
  const status =
    s.status ?? (s.execution === 'running' ? 'unknown (no worker answered)' : `workflow ${s.execution}`);
  const counts = s.counts
    ? ` ${s.counts.completed + s.counts.failed}/${s.counts.total} done (completed ${s.counts.completed}, failed ${s.counts.failed})`
    : '';
  return `${s.batchId} ${status}${counts}${s.cancelling && s.status !== 'cancelling' ? ' [cancel sent]' : ''}`;
}

export function billingLine(b: BillingTotals | null): string {
  if (!b) return 'billing: unknown (the workflow reported no totals)';
  const tokens = b.tokens
    ? `; tokens in ${b.tokens.inputTokens}, out ${b.tokens.outputTokens}, total ${b.tokens.totalTokens}`
    : '';
  return `billing: billed ${b.billed} of ${b.total} requests (failed ${b.failed}, not run ${b.notRun})${tokens}`;
}

/** `status` without --watch: a short report. */
export function renderStatus(result: BatchStatusResult): string {
  const s = summarize(result);
  const e = result.execution;
  const lines = [`batch ${s.batchId}  workflow ${e.workflowId} (${e.status}, run ${e.runId})`];
  const from = { query: 'status query', result: 'workflow result', describe: 'workflow description only' }[
    s.source
  ];
  lines.push(
    `  source      ${from}${result.source === 'query' ? '' : ` — query failed: ${result.queryError}`}`,
  );
  lines.push(`  status      ${s.status ?? '-'}`);
  if (s.counts) {
    lines.push(
      `  requests    ${s.counts.completed + s.counts.failed}/${s.counts.total} done` +
        ` (completed ${s.counts.completed}, failed ${s.counts.failed})`,
    );
  }
  if (result.source === 'query') {
    const v = result.view;
    lines.push(`  provider    ${v.provider}`);
    lines.push(`  phase       ${v.phase}  polls ${v.polls}  provider calls ${v.providerCalls}  run ${v.run}`);
    if (v.lastPolledAt) lines.push(`  last poll   ${v.lastPolledAt}`);
    if (v.nextPollAt) lines.push(`  next poll   ${v.nextPollAt}`);
    if (v.accessLost) {
      const what =
        v.accessLost.type === 'ProviderAuthFailed' ? 'provider key rejected' : 'provider access lost';
      lines.push(
        `  PAUSED      ${what} since ${v.accessLost.since} (${v.accessLost.attempts} attempt(s), retried every ` +
          `10 min; the batch still runs and bills): ${v.accessLost.message}`,
      );
    }
    for (const a of v.snapshot?.anomalies ?? []) lines.push(`  anomaly     ${a}`);
  }
  const cancel =
    result.source === 'query'
      ? result.view.cancel
      : result.source === 'result'
        ? result.outcome.cancel
        : null;
  if (cancel) {
    const who = cancel.requestedBy ? ` by ${cancel.requestedBy}` : '';
    const why = cancel.reason ? `: ${cancel.reason}` : '';
    const how = cancel.tooLate ? 'too late' : (cancel.providerOutcome ?? 'pending');
    lines.push(`  cancel      ${cancel.requestedAt}${who}${why} (${how})`);
  }
  if (s.billing || s.done) lines.push(`  ${billingLine(s.billing)}`);
  for (const d of s.billing?.discrepancies ?? []) lines.push(`  discrepancy ${d}`);
  return lines.map(safe).join('\n') + '\n';
}

/** Free text from other services (cancel reasons) must not drive the terminal. */
function safe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, ' ');
}

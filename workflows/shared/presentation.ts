// What people read in the Temporal Web UI: the progress line and the current-details markdown. Nothing secret.
import type {
  BatchSnapshot,
  BillingTotals,
  CancelRecord,
  ProviderAccessLoss,
  ProviderEventsRecord,
} from '../contract';

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}h${m ? ` ${m}m` : ''}`;
}

/**
 * e.g. "in_progress: 480 of 1000 done (48%), 10 failed" ("of", not "/": the Web UI's markdown turns 480/1000
 * into a typographic fraction).
 */
export function progressLine(snapshot: BatchSnapshot | null): string {
  if (!snapshot) return 'waiting for the first poll';
  const { total, completed, failed } = snapshot.requestCounts;
  if (total === 0) return `${snapshot.status}: no request counts yet`;
  const done = completed + failed;
  const pct = Math.floor((done / total) * 100);
  const failures = failed > 0 ? `, ${failed} failed` : '';
  return `${snapshot.status}: ${done} of ${total} done (${pct}%)${failures}`;
}

function progressBar(snapshot: BatchSnapshot | null, width = 20): string {
  const total = snapshot?.requestCounts.total ?? 0;
  if (!snapshot || total === 0) return '';
  const done = snapshot.requestCounts.completed + snapshot.requestCounts.failed;
  const filled = Math.round((done / total) * width);
  return '`' + '█'.repeat(filled) + '░'.repeat(width - filled) + '`';
}

export interface DetailsInput {
  batchId: string;
  provider: string;
  snapshot: BatchSnapshot | null;
  cancel: CancelRecord | null;
  billing: BillingTotals | null;
  nextPollInSeconds: number | null;
  polls: number;
  run: number;
  accessLost?: ProviderAccessLoss | null;
  events?: ProviderEventsRecord;
}

export function currentDetails(d: DetailsInput): string {
  // The UI shows the first few lines of a short box: what a person acts on comes first.
  const lines: string[] = [];
  lines.push(`**${progressLine(d.snapshot)}** ${progressBar(d.snapshot)}`.trim());
  if (d.accessLost) {
    const what =
      d.accessLost.type === 'ProviderAuthFailed' ? 'provider key rejected' : 'provider access lost';
    lines.push(
      `**${what} since ${d.accessLost.since}** (${d.accessLost.attempts} attempt(s); the batch still runs and ` +
        `bills): ${d.accessLost.message}`,
    );
  }
  const anomalies = d.snapshot?.anomalies ?? [];
  if (anomalies.length > 0) lines.push(`Provider answer anomalies: ${anomalies.join('; ')}`);
  if (d.cancel) {
    const who = d.cancel.requestedBy ? ` by ${d.cancel.requestedBy}` : '';
    const why = d.cancel.reason ? ` — "${d.cancel.reason}"` : '';
    const state = d.cancel.tooLate
      ? 'arrived after the batch had finished (not sent)'
      : d.cancel.providerOutcome
        ? `provider: ${d.cancel.providerOutcome}`
        : 'sending to the provider';
    lines.push(`Cancel requested ${d.cancel.requestedAt}${who}${why}; ${state}`);
  }
  if (d.billing) {
    const b = d.billing;
    const tokens = b.tokens ? ` · tokens ${b.tokens.totalTokens}` : '';
    const flagged = b.discrepancies ? ` · ${b.discrepancies.length} discrepancy(ies)` : '';
    lines.push(
      `Billing: **${b.billed} billed** · ${b.failed} failed · ${b.notRun} not run of ${b.total}${tokens}${flagged}`,
    );
  }
  if (d.nextPollInSeconds !== null) {
    lines.push(`Next poll in ${formatDuration(d.nextPollInSeconds)} · ${d.polls} polls so far`);
  }
  const s = d.snapshot;
  lines.push(
    `Batch \`${d.batchId}\` on **${d.provider}**` +
      (s ? ` · \`${s.endpoint}\` · window ${s.completionWindow}` : ''),
  );
  if (s && s.errors.length > 0) {
    lines.push(`Errors (${s.errors.length}):`);
    for (const e of s.errors.slice(0, 5)) {
      lines.push(`- ${e.code ?? 'error'}${e.line ? ` (line ${e.line})` : ''}: ${e.message ?? ''}`);
    }
  }
  if (d.events?.last) {
    lines.push(
      `Webhooks: ${d.events.received} event(s), last \`${d.events.last.type}\` at ${d.events.last.receivedAt}` +
        (d.events.duplicates ? ` · ${d.events.duplicates} duplicate(s) ignored` : ''),
    );
  }
  if (d.run > 1) lines.push(`Run ${d.run} (continued as new)`);
  // Markdown hard line breaks: one compact paragraph instead of a tall stack of them.
  return lines.join('  \n');
}

import type { BatchSnapshot, BillingTotals, ResultsRecord, TokenUsage } from '../contract';

/**
 * Billing totals at a terminal status: the one place they are computed.
 * Completed requests are billed, also after cancel or expiry; failed and never-run ones are not.
 * The provider's counts are the bill; where they were unusable, or disagree with the result lines that were
 * downloaded, the totals carry `discrepancies` saying so (recorded with them, never hidden).
 */
export function computeBilling(
  snapshot: BatchSnapshot,
  outputTokens: TokenUsage | null = null,
  results: Pick<ResultsRecord, 'summary'> | null = null,
): BillingTotals {
  const { total, completed, failed } = snapshot.requestCounts;
  const totals: BillingTotals = {
    total,
    completed,
    billed: completed,
    failed,
    notRun: Math.max(0, total - completed - failed),
    // The batch's own usage when the provider reports it (OpenAI); else what the output lines say (DashScope).
    tokens: snapshot.usage ?? outputTokens,
  };
  const discrepancies = [...(snapshot.anomalies ?? []), ...crossCheck(snapshot, results)];
  if (discrepancies.length > 0) totals.discrepancies = discrepancies;
  return totals;
}

function crossCheck(snapshot: BatchSnapshot, results: Pick<ResultsRecord, 'summary'> | null): string[] {
  if (!results) return [];
  const { completed, failed } = snapshot.requestCounts;
  const { succeeded, failed: failedLines } = results.summary;
  const out: string[] = [];
  if (succeeded !== completed)
    out.push(`results: ${succeeded} succeeded line(s), but the provider counts ${completed} completed`);
  if (failedLines !== failed)
    out.push(`results: ${failedLines} failed line(s), but the provider counts ${failed} failed`);
  return out;
}

export function addBilling(a: BillingTotals, b: BillingTotals): BillingTotals {
  return {
    total: a.total + b.total,
    completed: a.completed + b.completed,
    billed: a.billed + b.billed,
    failed: a.failed + b.failed,
    notRun: a.notRun + b.notRun,
    tokens: a.tokens && b.tokens ? addTokens(a.tokens, b.tokens) : (a.tokens ?? b.tokens),
    ...(a.discrepancies || b.discrepancies
      ? { discrepancies: [...(a.discrepancies ?? []), ...(b.discrepancies ?? [])] }
      : {}),
  };
}

export const ZERO_BILLING: BillingTotals = {
  total: 0,
  completed: 0,
  billed: 0,
  failed: 0,
  notRun: 0,
  tokens: null,
};

function addTokens(a: TokenUsage, b: TokenUsage): TokenUsage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    cachedTokens: a.cachedTokens + b.cachedTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    totalTokens: a.totalTokens + b.totalTokens,
  };
}

import type { BatchSnapshot, BillingTotals, TokenUsage } from './messages';

/**
 * Billing totals at a terminal status: the one place they are computed.
 * Completed requests are billed, also after cancel or expiry; failed and never-run ones are not.
 */
export function computeBilling(
  snapshot: BatchSnapshot,
  outputTokens: TokenUsage | null = null,
): BillingTotals {
  const { total, completed, failed } = snapshot.requestCounts;
  return {
    total,
    completed,
    billed: completed,
    failed,
    notRun: Math.max(0, total - completed - failed),
    // The batch's own usage when the provider reports it (OpenAI); else what the output lines say (DashScope).
    tokens: snapshot.usage ?? outputTokens,
  };
}

export function addBilling(a: BillingTotals, b: BillingTotals): BillingTotals {
  return {
    total: a.total + b.total,
    completed: a.completed + b.completed,
    billed: a.billed + b.billed,
    failed: a.failed + b.failed,
    notRun: a.notRun + b.notRun,
    tokens: a.tokens && b.tokens ? addTokens(a.tokens, b.tokens) : (a.tokens ?? b.tokens),
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

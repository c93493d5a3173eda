import type { BatchSnapshot, BillingTotals } from './messages';

/**
 * Billing totals at a terminal status: the one place they are computed.
 * Completed requests are billed, also after cancel or expiry; failed and never-run ones are not.
 */
export function computeBilling(snapshot: BatchSnapshot): BillingTotals {
  const { total, completed, failed } = snapshot.requestCounts;
  return {
    total,
    completed,
    billed: completed,
    failed,
    notRun: Math.max(0, total - completed - failed),
    tokens: snapshot.usage,
  };
}

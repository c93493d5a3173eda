import { rowFromOutcome, type Ledger, type PriceTable } from '../ledger';
import type { OutcomeSink } from '../../activities';

/** Records outcomes in the billing ledger; the ledger upserts by batch id, so retries never double-count. */
export function ledgerSink(ledger: Ledger, priceTable?: PriceTable): OutcomeSink {
  return {
    record: async ({ workflowId, outcome, model }) => {
      await ledger.record(rowFromOutcome(outcome, { workflowId, model, priceTable }));
    },
  };
}

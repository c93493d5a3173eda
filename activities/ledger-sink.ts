import { rowFromOutcome, type Ledger, type PriceTable } from '../src/ledger';
import type { OutcomeSink } from './index';

/** Records outcomes in the billing ledger; the ledger upserts by batch id, so retries never double-count. */
export function ledgerSink(ledger: Ledger, priceTable?: PriceTable): OutcomeSink {
  return {
    record: async ({ workflowId, outcome, model }) => {
      await ledger.record(rowFromOutcome(outcome, { workflowId, model, priceTable }));
    },
  };
}

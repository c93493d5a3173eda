import { estimateCostUsd, findPrice, rowFromOutcome, type PriceTable } from '../../src/ledger';
import { normalizeRow } from '../../src/ledger/types';
import type { CancelRecord, TokenUsage } from '../../workflows/contract';
import { outcome, snapshot, unix } from './fixtures';

const RECORDED = '2026-01-10T10:00:00.000Z';
const usage = (input: number, output: number, cached = 0): TokenUsage => ({
  inputTokens: input,
  cachedTokens: cached,
  outputTokens: output,
  reasoningTokens: 0,
  totalTokens: input + output,
});
const prices: PriceTable = {
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'qwen-plus': { inputPerMTok: 0.4, outputPerMTok: 1.2, batchDiscount: 0.5 },
};

describe('rowFromOutcome', () => {
  test('completed: counts, tokens, times and identity come through', () => {
    const r = rowFromOutcome(
      outcome({
        billing: {
          total: 100,
          completed: 98,
          billed: 98,
          failed: 2,
          notRun: 0,
          tokens: usage(1_000_000, 200_000),
        },
      }),
      { workflowId: 'batch-batch_abc', model: 'gpt-4o', priceTable: prices, recordedAt: RECORDED },
    );
    expect(r).toEqual({
      batchId: 'batch_abc',
      provider: 'openai',
      endpoint: '/v1/chat/completions',
      model: 'gpt-4o',
      status: 'completed',
      total: 100,
      completed: 98,
      billed: 98,
      failed: 2,
      notRun: 0,
      inputTokens: 1_000_000,
      outputTokens: 200_000,
      totalTokens: 1_200_000,
      // (1M * $2.50 + 0.2M * $10) / 2 for batch
      estimatedCostUsd: 2.25,
      cancelRequestedAt: null,
      cancelReason: null,
      cancelRequestedBy: null,
      createdAt: '2026-01-10T08:00:00.000Z',
      finishedAt: '2026-01-10T09:00:00.000Z',
      recordedAt: RECORDED,
      workflowId: 'batch-batch_abc',
      discrepancies: null,
    });
    expect(normalizeRow(r)).toEqual(r);
  });

  test('cancelled: billed is what completed before the cancel, the rest never ran, the cancel is kept', () => {
    const cancel: CancelRecord = {
      requestedAt: '2026-01-10T08:20:00.000Z',
      reason: 'wrong prompt',
      requestedBy: 'alice@example.com',
      source: 'signal',
      duplicates: 2,
      tooLate: false,
      providerCalledAt: '2026-01-10T08:20:01.000Z',
      providerOutcome: 'cancel-requested',
    };
    const snap = snapshot({
      status: 'cancelled',
      requestCounts: { total: 100, completed: 40, failed: 3 },
      timestamps: {
        ...snapshot().timestamps,
        completedAt: null,
        finalizingAt: null,
        cancellingAt: unix('2026-01-10T08:20:01Z'),
        cancelledAt: unix('2026-01-10T08:29:00Z'),
      },
    });
    const r = rowFromOutcome(
      outcome({
        snapshot: snap,
        status: 'cancelled',
        cancel,
        billing: {
          total: 100,
          completed: 40,
          billed: 40,
          failed: 3,
          notRun: 57,
          tokens: usage(40_000, 8_000),
        },
      }),
      { workflowId: 'batch-batch_abc', model: 'gpt-4o-mini', priceTable: prices, recordedAt: RECORDED },
    );
    expect(r).toMatchObject({
      status: 'cancelled',
      total: 100,
      completed: 40,
      billed: 40,
      failed: 3,
      notRun: 57,
      cancelRequestedAt: '2026-01-10T08:20:00.000Z',
      cancelReason: 'wrong prompt',
      cancelRequestedBy: 'alice@example.com',
      finishedAt: '2026-01-10T08:29:00.000Z',
      // (40k * 0.15 + 8k * 0.6) / 1e6 / 2
      estimatedCostUsd: 0.0054,
    });
  });

  test('expired: partial results billed, the finish time is when it expired', () => {
    const snap = snapshot({
      status: 'expired',
      requestCounts: { total: 50_000, completed: 31_000, failed: 12 },
      timestamps: { ...snapshot().timestamps, completedAt: null, expiredAt: unix('2026-01-11T08:00:00Z') },
    });
    const r = rowFromOutcome(
      outcome({
        snapshot: snap,
        status: 'expired',
        billing: {
          total: 50_000,
          completed: 31_000,
          billed: 31_000,
          failed: 12,
          notRun: 18_988,
          tokens: null,
        },
      }),
      { workflowId: 'w', model: 'gpt-4o', priceTable: prices, recordedAt: RECORDED },
    );
    expect(r).toMatchObject({
      status: 'expired',
      billed: 31_000,
      notRun: 18_988,
      finishedAt: '2026-01-11T08:00:00.000Z',
    });
    // No token usage known: no cost estimate, even with a price for the model.
    expect(r.inputTokens).toBeNull();
    expect(r.estimatedCostUsd).toBeNull();
  });

  test('failed in validation: nothing billed, DashScope zero timestamps read as unknown', () => {
    const snap = snapshot({
      status: 'failed',
      requestCounts: { total: 0, completed: 0, failed: 0 },
      errors: [{ code: 'token_limit_exceeded', message: 'queue full', param: null, line: null }],
      timestamps: {
        createdAt: unix('2026-01-10T08:00:00Z'),
        inProgressAt: 0,
        expiresAt: 0,
        finalizingAt: 0,
        completedAt: 0,
        failedAt: unix('2026-01-10T08:00:30Z'),
        expiredAt: 0,
        cancellingAt: 0,
        cancelledAt: 0,
      },
    });
    const r = rowFromOutcome(
      outcome({
        provider: 'dashscope',
        snapshot: snap,
        status: 'failed',
        billing: { total: 0, completed: 0, billed: 0, failed: 0, notRun: 0, tokens: usage(0, 0) },
      }),
      { workflowId: 'w', model: 'qwen-plus', priceTable: prices, recordedAt: RECORDED },
    );
    expect(r).toMatchObject({
      provider: 'dashscope',
      status: 'failed',
      billed: 0,
      finishedAt: '2026-01-10T08:00:30.000Z',
    });
    expect(r.estimatedCostUsd).toBe(0);
  });

  test("the workflow's discrepancies are carried into the row; none is null, not an empty list", () => {
    const flags = ['request_counts missing: counts read as 0', 'results: 12 succeeded lines, completed = 10'];
    const billing = { ...outcome().billing, discrepancies: flags };
    const flagged = rowFromOutcome(outcome({ billing }), { workflowId: 'w', recordedAt: RECORDED });
    expect(flagged.discrepancies).toEqual(flags);
    const none = { ...outcome().billing, discrepancies: [] };
    expect(rowFromOutcome(outcome({ billing: none }), { workflowId: 'w' }).discrepancies).toBeNull();
  });

  test('a terminal status without its own timestamp falls back to another terminal one, else null', () => {
    const ts = { ...snapshot().timestamps, completedAt: null, failedAt: unix('2026-01-10T09:30:00Z') };
    const withFallback = rowFromOutcome(outcome({ snapshot: snapshot({ timestamps: ts }) }), {
      workflowId: 'w',
      recordedAt: RECORDED,
    });
    expect(withFallback.finishedAt).toBe('2026-01-10T09:30:00.000Z');
    const none = rowFromOutcome(
      outcome({ snapshot: snapshot({ timestamps: { ...ts, failedAt: null, createdAt: 0 } }) }),
      { workflowId: 'w', recordedAt: RECORDED },
    );
    expect(none.finishedAt).toBeNull();
    expect(none.createdAt).toBeNull();
  });

  test('without a model or price table there is no cost; recordedAt defaults to now', () => {
    const o = outcome({ billing: { ...outcome().billing, tokens: usage(1000, 1000) } });
    const before = Date.now();
    const r = rowFromOutcome(o, { workflowId: 'w', priceTable: prices });
    expect(r.model).toBeNull();
    expect(r.estimatedCostUsd).toBeNull();
    expect(Date.parse(r.recordedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(r.recordedAt)).toBeLessThanOrEqual(Date.now());
    expect(rowFromOutcome(o, { workflowId: 'w', model: 'gpt-4o' }).estimatedCostUsd).toBeNull();
    expect(
      rowFromOutcome(o, { workflowId: 'w', model: 'llama-3', priceTable: prices }).estimatedCostUsd,
    ).toBeNull();
  });
});

describe('cost estimation', () => {
  const t = { inputTokens: 2_000_000, cachedTokens: 1_000_000, outputTokens: 500_000 };

  test('batch price defaults to half the synchronous price', () => {
    // sync: 2M * 2.5 + 0.5M * 10 = $10
    expect(estimateCostUsd(t, 'gpt-4o', prices)).toBe(5);
  });

  test('batchDiscount is the fraction taken off', () => {
    const table = (batchDiscount: number): PriceTable => ({
      m: { inputPerMTok: 2.5, outputPerMTok: 10, batchDiscount },
    });
    expect(estimateCostUsd(t, 'm', table(0))).toBe(10);
    expect(estimateCostUsd(t, 'm', table(0.75))).toBe(2.5);
    expect(estimateCostUsd(t, 'm', table(1))).toBe(0);
  });

  test('cached input tokens use their own price when one is given', () => {
    const table: PriceTable = { m: { inputPerMTok: 2.5, cachedInputPerMTok: 1.25, outputPerMTok: 10 } };
    // (1M * 2.5 + 1M * 1.25 + 0.5M * 10) / 2
    expect(estimateCostUsd(t, 'm', table)).toBe(4.375);
  });

  test('rounds to micro-dollars', () => {
    expect(estimateCostUsd({ inputTokens: 3, outputTokens: 0 }, 'gpt-4o-mini', prices)).toBe(0);
    expect(estimateCostUsd({ inputTokens: 7, outputTokens: 3 }, 'gpt-4o', prices)).toBe(0.000024);
  });

  test('a malformed price gives no estimate instead of failing the recording', () => {
    expect(
      estimateCostUsd(t, 'm', { m: { inputPerMTok: 1, outputPerMTok: 1, batchDiscount: 1.5 } }),
    ).toBeNull();
    expect(estimateCostUsd(t, 'm', { m: { inputPerMTok: -1, outputPerMTok: 1 } })).toBeNull();
  });

  test('snapshot names take their base model price, other names do not', () => {
    expect(findPrice(prices, 'gpt-4o-2024-08-06')).toBe(prices['gpt-4o']);
    expect(findPrice(prices, 'gpt-4o-mini-2024-07-18')).toBe(prices['gpt-4o-mini']);
    expect(findPrice(prices, 'qwen-plus-latest')).toBe(prices['qwen-plus']);
    expect(findPrice(prices, 'qwen-plus-0919')).toBe(prices['qwen-plus']);
    expect(findPrice({ 'gpt-4o': prices['gpt-4o'] }, 'gpt-4o-mini')).toBeNull();
    expect(findPrice(prices, 'gpt-4o-audio-preview')).toBeNull();
    expect(findPrice(prices, 'toString')).toBeNull();
  });
});

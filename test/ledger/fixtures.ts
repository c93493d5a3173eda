import type { LedgerRow } from '../../src/ledger/types';
import type { BatchOutcome, BatchSnapshot, TerminalStatus } from '../../workflows/contract';

const T0 = Date.UTC(2026, 0, 10, 8, 0, 0) / 1000; // 2026-01-10T08:00:00Z

export function snapshot(overrides: Partial<BatchSnapshot> = {}): BatchSnapshot {
  return {
    id: 'batch_abc',
    status: 'completed',
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    inputFileId: 'file-in',
    outputFileId: 'file-out',
    errorFileId: null,
    requestCounts: { total: 100, completed: 100, failed: 0 },
    errors: [],
    usage: null,
    metadata: {},
    timestamps: {
      createdAt: T0,
      inProgressAt: T0 + 60,
      expiresAt: T0 + 86400,
      finalizingAt: T0 + 3000,
      completedAt: T0 + 3600,
      failedAt: null,
      expiredAt: null,
      cancellingAt: null,
      cancelledAt: null,
    },
    ...overrides,
  };
}

export function outcome(overrides: Partial<BatchOutcome> = {}): BatchOutcome {
  const snap = overrides.snapshot ?? snapshot();
  return {
    batchId: snap.id,
    provider: 'openai',
    status: snap.status as TerminalStatus,
    billing: { total: 100, completed: 100, billed: 100, failed: 0, notRun: 0, tokens: null },
    errors: [],
    cancel: null,
    snapshot: snap,
    providerCalls: 7,
    runs: 1,
    results: null,
    resultsError: null,
    ...overrides,
  };
}

export function row(overrides: Partial<LedgerRow> = {}): LedgerRow {
  return {
    batchId: 'batch_1',
    provider: 'openai',
    endpoint: '/v1/chat/completions',
    model: 'gpt-4o-mini',
    status: 'completed',
    total: 10,
    completed: 9,
    billed: 9,
    failed: 1,
    notRun: 0,
    inputTokens: 1000,
    outputTokens: 500,
    totalTokens: 1500,
    estimatedCostUsd: 0.000412,
    cancelRequestedAt: null,
    cancelReason: null,
    cancelRequestedBy: null,
    createdAt: '2026-01-10T08:00:00.000Z',
    finishedAt: '2026-01-10T09:00:00.000Z',
    recordedAt: '2026-01-10T09:00:05.000Z',
    workflowId: 'batch-batch_1',
    discrepancies: null,
    ...overrides,
  };
}

/** Unix seconds of an ISO time, for building snapshots. */
export function unix(iso: string): number {
  return Date.parse(iso) / 1000;
}

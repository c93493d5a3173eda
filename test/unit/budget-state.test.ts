// The budget's rules without Temporal: order, idempotence, release, the lowered limit after a provider refusal.
import { BudgetState } from '../../workflows/budget/state';
import type { AcquireRequest } from '../../workflows/contract';

const req = (holderId: string, tokens: number, over: Partial<AcquireRequest> = {}): AcquireRequest => ({
  holderId,
  owner: `owner-of-${holderId}`,
  tokens,
  priority: 0,
  submittedAt: 100,
  order: 0,
  limit: 100,
  maxBatches: null,
  ...over,
});

test('admits while the tokens fit, then queues by priority, then submission age, then part order', () => {
  const b = new BudgetState('p', 'm', 'budget-p-m');
  expect(b.acquire(req('a', 60), 0)).toMatchObject({ granted: true, held: 60 });
  expect(b.acquire(req('old-1', 30, { submittedAt: 50, order: 1 }), 0).granted).toBe(true);
  expect(b.acquire(req('new', 30, { submittedAt: 200 }), 0)).toMatchObject({
    granted: false,
    tokensAhead: 0,
  });
  expect(b.acquire(req('old-2', 30, { submittedAt: 50, order: 2 }), 0)).toMatchObject({
    granted: false,
    tokensAhead: 0,
    partsAhead: 0,
  });
  expect(b.acquire(req('urgent', 40, { priority: 5, submittedAt: 300 }), 0)).toMatchObject({
    granted: false,
    partsAhead: 0,
  });
  expect(b.view(0).waiting.map((w) => [w.holderId, w.tokensAhead])).toEqual([
    ['urgent', 0],
    ['old-2', 40],
    ['new', 70],
  ]);
  // Freeing 60 admits urgent (40) and old-2 (30): exactly 100. new (30) would pass it and waits.
  b.release({ holderId: 'a' }, 0);
  expect([...b.holders.keys()]).toEqual(['old-1', 'urgent', 'old-2']);
  expect(b.unsent.map((g) => g.holderId)).toEqual(['urgent', 'old-2']);
  b.release({ holderId: 'urgent' }, 0);
  expect([...b.holders.keys()]).toEqual(['old-1', 'old-2', 'new']);
  expect(b.view(0).waiting).toEqual([]);
});

test('acquire and release are idempotent by holder id; releasing a waiter withdraws it', () => {
  const b = new BudgetState('p', 'm', 'budget-p-m');
  b.acquire(req('a', 80), 0);
  expect(b.acquire(req('a', 80), 0)).toMatchObject({ granted: true, held: 80 });
  b.acquire(req('w', 50), 0);
  expect(b.acquire(req('w', 50), 0)).toMatchObject({ granted: false, partsAhead: 0 });
  expect(b.waiters).toHaveLength(1);
  b.release({ holderId: 'w' }, 0);
  b.release({ holderId: 'w' }, 0);
  b.release({ holderId: 'unknown' }, 0);
  expect(b.waiters).toHaveLength(0);
  expect(b.held).toBe(80);
  expect(b.unsent).toEqual([]);
});

test('maxBatches caps admitted parts even when tokens fit', () => {
  const b = new BudgetState('p', 'm', 'budget-p-m');
  expect(b.acquire(req('a', 1, { maxBatches: 2 }), 0).granted).toBe(true);
  expect(b.acquire(req('b', 1, { maxBatches: 2 }), 0).granted).toBe(true);
  expect(b.acquire(req('c', 1, { maxBatches: 2 }), 0).granted).toBe(false);
});

test('a token_limit_exceeded lowers the effective limit for a while, never below the refused part', () => {
  const b = new BudgetState('p', 'm', 'budget-p-m');
  b.acquire(req('a', 50), 0);
  b.acquire(req('b', 40), 0);
  b.release({ holderId: 'b', tokenLimitExceeded: true }, 1000);
  // 80% of the 90 held when refused.
  expect(b.effectiveLimit(1000)).toBe(72);
  expect(b.limitHits).toBe(1);
  expect(b.acquire(req('b2', 40), 1000).granted).toBe(false);
  // Half an hour later the configured limit is back and the waiting part goes.
  b.expireLowered(1000 + 30 * 60 * 1000);
  expect(b.effectiveLimit(1000 + 30 * 60 * 1000)).toBe(100);
  expect(b.holders.has('b2')).toBe(true);
  // A lone refused part larger than 80% of what was held still fits alone afterwards.
  const c = new BudgetState('p', 'm', 'budget-p-m');
  c.acquire(req('big', 95), 0);
  c.release({ holderId: 'big', tokenLimitExceeded: true }, 0);
  expect(c.effectiveLimit(0)).toBe(95);
});

test('carried across continue-as-new: holders, waiters, lowered limit and unsent grants', () => {
  const b = new BudgetState('p', 'm', 'budget-p-m');
  b.acquire(req('a', 90), 0);
  b.acquire(req('w', 20), 0);
  b.release({ holderId: 'a', tokenLimitExceeded: true }, 0);
  const next = new BudgetState('p', 'm', 'budget-p-m', b.toCarried());
  expect(next.view(0)).toEqual({ ...b.view(0), runs: 2 });
  expect(next.unsent).toEqual(b.unsent);
});

// A token budget's state and rules, apart from the workflow that drives it (no Temporal calls here).
import type {
  AcquireRequest,
  AcquireResult,
  BudgetGrant,
  BudgetHolder,
  BudgetView,
  BudgetWaiter,
  ReleaseRequest,
} from '../contract';
import type { BudgetCarried } from './carried-state';

/**
 * After a provider's `token_limit_exceeded` (other clients of the organisation use the same quota, or the
 * configured limit is too high) the effective limit drops to this share of what we held then, for a while.
 */
const LOWER_TO = 0.8;
const LOWERED_MS = 30 * 60 * 1000;

export class BudgetState {
  limit: number;
  maxBatches: number | null;
  readonly holders = new Map<string, BudgetHolder>();
  waiters: BudgetWaiter[] = [];
  seq = 0;
  lowered: { limit: number; until: number } | null = null;
  limitHits = 0;
  runs = 1;
  /** Grants decided whose owner has not been signalled yet (the workflow sends them). */
  unsent: BudgetGrant[] = [];
  /** Grows on every change the workflow may wait for. */
  version = 0;
  probedAt = 0;

  constructor(
    readonly provider: string,
    readonly model: string,
    readonly budgetId: string,
    carried?: BudgetCarried,
  ) {
    this.limit = carried?.limit ?? 0;
    this.maxBatches = carried?.maxBatches ?? null;
    for (const h of carried?.holders ?? []) this.holders.set(h.holderId, h);
    this.waiters = carried?.waiters ?? [];
    this.seq = carried?.seq ?? 0;
    this.lowered = carried?.lowered ?? null;
    this.limitHits = carried?.limitHits ?? 0;
    this.runs = (carried?.runs ?? 0) + 1;
    this.unsent = carried?.unsent ?? [];
    this.probedAt = carried?.probedAt ?? 0;
  }

  toCarried(): BudgetCarried {
    return {
      limit: this.limit,
      maxBatches: this.maxBatches,
      holders: [...this.holders.values()],
      waiters: this.waiters,
      seq: this.seq,
      lowered: this.lowered,
      limitHits: this.limitHits,
      runs: this.runs,
      unsent: this.unsent,
      probedAt: this.probedAt,
    };
  }

  /** While parts wait behind holds, the holds' owners are checked now and then (see `budgetPingSignal`). */
  probeDue(now: number, everyMs: number): number | null {
    if (this.waiters.length === 0 || this.holders.size === 0) return null;
    return Math.max(0, this.probedAt + everyMs - now);
  }

  /** Frees every hold of an owner that is gone. */
  ownerGone(owner: string, now: number): void {
    for (const h of [...this.holders.values()])
      if (h.owner === owner) this.release({ holderId: h.holderId, reason: `owner ${owner} is gone` }, now);
  }

  get held(): number {
    let n = 0;
    for (const h of this.holders.values()) n += h.tokens;
    return n;
  }

  effectiveLimit(now: number): number {
    if (this.lowered && this.lowered.until > now) return Math.min(this.limit, this.lowered.limit);
    return this.limit;
  }

  idle(): boolean {
    return this.holders.size === 0 && this.waiters.length === 0 && this.unsent.length === 0;
  }

  /** Idempotent by holder id: a retried acquire finds its grant or its place in the queue. */
  acquire(req: AcquireRequest, now: number): AcquireResult {
    // The latest worker's profile wins: a deploy that changes the limit takes effect at the next acquire.
    this.limit = req.limit;
    this.maxBatches = req.maxBatches;
    if (!this.holders.has(req.holderId) && !this.waiters.some((w) => w.holderId === req.holderId)) {
      this.seq += 1;
      this.waiters.push({ ...req, seq: this.seq });
      this.waiters.sort(byPriorityThenAge);
      this.admit(now, req.holderId);
    }
    return this.positionOf(req.holderId, now);
  }

  /** Frees a holder's tokens, or withdraws a waiter. Unknown ids (already released, a repeat) change nothing. */
  release(req: ReleaseRequest, now: number): void {
    const h = this.holders.get(req.holderId);
    if (req.tokenLimitExceeded) {
      this.limitHits += 1;
      // What we held when the provider refused (this part included), lowered; never below the refused part,
      // which must still fit alone when it comes back.
      const to = Math.max(
        h?.tokens ?? 0,
        Math.floor(Math.min(this.effectiveLimit(now), this.held) * LOWER_TO),
      );
      this.lowered = { limit: Math.min(to, this.lowered?.limit ?? to), until: now + LOWERED_MS };
    }
    this.holders.delete(req.holderId);
    this.waiters = this.waiters.filter((w) => w.holderId !== req.holderId);
    this.unsent = this.unsent.filter((g) => g.holderId !== req.holderId);
    this.admit(now);
    this.version += 1;
  }

  /** The lowered limit expired: admit what now fits. */
  expireLowered(now: number): void {
    if (this.lowered && this.lowered.until <= now) {
      this.lowered = null;
      this.admit(now);
      this.version += 1;
    }
  }

  /**
   * Admits waiters in order while the head fits. Strictly in order: a small part behind a large one waits too,
   * so a large part is never starved. A head that cannot fit even alone (a lowered limit) goes when nothing is
   * held: waiting longer could not help it. `answered`: the waiter whose acquire is being answered learns its
   * grant from the answer, not from a signal.
   */
  private admit(now: number, answered?: string): void {
    const limit = this.effectiveLimit(now);
    while (this.waiters.length > 0) {
      const head = this.waiters[0];
      const fits = this.held + head.tokens <= limit || this.holders.size === 0;
      const slots = this.maxBatches === null || this.holders.size < this.maxBatches;
      if (!fits || !slots) break;
      this.waiters.shift();
      this.holders.set(head.holderId, {
        holderId: head.holderId,
        owner: head.owner,
        tokens: head.tokens,
        since: now,
      });
      if (head.holderId !== answered) this.unsent.push({ holderId: head.holderId, budgetId: this.budgetId });
    }
    this.version += 1;
  }

  positionOf(holderId: string, now: number): AcquireResult {
    const base = { effectiveLimit: this.effectiveLimit(now), held: this.held };
    if (this.holders.has(holderId)) return { granted: true, tokensAhead: 0, partsAhead: 0, ...base };
    let tokensAhead = 0;
    let partsAhead = 0;
    for (const w of this.waiters) {
      if (w.holderId === holderId) break;
      tokensAhead += w.tokens;
      partsAhead += 1;
    }
    return { granted: false, tokensAhead, partsAhead, ...base };
  }

  view(now: number): BudgetView {
    let ahead = 0;
    return {
      provider: this.provider,
      model: this.model,
      limit: this.limit,
      maxBatches: this.maxBatches,
      effectiveLimit: this.effectiveLimit(now),
      loweredUntil:
        this.lowered && this.lowered.until > now ? new Date(this.lowered.until).toISOString() : null,
      held: this.held,
      holders: [...this.holders.values()],
      waiting: this.waiters.map((w) => {
        const row = { holderId: w.holderId, owner: w.owner, tokens: w.tokens, tokensAhead: ahead };
        ahead += w.tokens;
        return row;
      }),
      limitHits: this.limitHits,
      runs: this.runs,
    };
  }

  details(now: number): string {
    const v = this.view(now);
    const lowered = v.loweredUntil ? ` (lowered from ${v.limit} until ${v.loweredUntil})` : '';
    return (
      `**${v.model}** on ${v.provider}: ${v.held}/${v.effectiveLimit} tokens enqueued${lowered}, ` +
      `${v.holders.length} batch(es) admitted, ${v.waiting.length} part(s) waiting` +
      (v.waiting.length > 0 ? ` (${v.waiting.reduce((n, w) => n + w.tokens, 0)} tokens)` : '')
    );
  }
}

function byPriorityThenAge(a: BudgetWaiter, b: BudgetWaiter): number {
  return b.priority - a.priority || a.submittedAt - b.submittedAt || a.order - b.order || a.seq - b.seq;
}

/** The `acquire` update's validator: a malformed request is rejected before it reaches history. */
export function checkAcquireRequest(req: AcquireRequest): void {
  if (!(req.tokens > 0) || !(req.limit > 0) || !req.holderId || !req.owner)
    throw new Error('acquire needs holderId, owner, tokens > 0 and limit > 0');
}

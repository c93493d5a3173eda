/**
 * Webhook ids already forwarded, so a fast redelivery (a provider retrying after a slow answer, a duplicate
 * send) costs no second signal. Bounded and in memory only: after a restart, on another replica or past the TTL
 * a duplicate is forwarded again, and the workflow drops it by its own list of webhook ids. This is an
 * optimisation; correctness lives in the workflow.
 *
 * Concurrent deliveries of one id share one forwarding, and an id is remembered only once forwarding succeeded:
 * a delivery answered 5xx must go through again when the provider retries it.
 */
export class RecentDeliveries<T> {
  private readonly done = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<T>>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly ttlMs = 3_600_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `key` was forwarded within the TTL. */
  seen(key: string): boolean {
    const at = this.done.get(key);
    if (at === undefined) return false;
    if (this.now() - at > this.ttlMs) {
      this.done.delete(key);
      return false;
    }
    return true;
  }

  /** Runs `forward` once for concurrent callers with the same key; remembers the key when it succeeds. */
  async once(key: string, forward: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = forward().then((result) => {
      this.remember(key);
      return result;
    });
    this.inFlight.set(key, promise);
    try {
      return await promise;
    } finally {
      this.inFlight.delete(key);
    }
  }

  get size(): number {
    return this.done.size;
  }

  private remember(key: string): void {
    // Re-inserting moves the key to the end: Map order is the eviction order.
    this.done.delete(key);
    this.done.set(key, this.now());
    while (this.done.size > this.maxEntries) {
      const oldest = this.done.keys().next().value as string;
      this.done.delete(oldest);
    }
  }
}

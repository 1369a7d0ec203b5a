import type { BucketTake, RateLimit } from './RateLimiter.js';

/** Most bucket keys whose usage corrections wait for Redis at once (one entry per key and limit). */
export const MAX_PENDING_CORRECTIONS = 10_000;

/**
 * Usage corrections that could not reach Redis, waiting to be applied when it answers again.
 * Corrections of the same bucket (key and limit) are summed into one entry, so an outage holds
 * one entry per busy bucket rather than one per request. Bounded: when full, a new charge evicts
 * the oldest pending refund and a new refund is dropped, because a lost refund only makes the
 * shared limit stricter while a lost charge lets the budget drift open.
 */
export class PendingCorrections {
  private readonly entries = new Map<string, BucketTake>();
  /** Ids of the entries whose sum is a refund, oldest first: what a full queue gives up first. */
  private readonly refunds = new Set<string>();

  constructor(readonly maxEntries = MAX_PENDING_CORRECTIONS) {}

  get size(): number {
    return this.entries.size;
  }

  /** Adds `cost` to the bucket's pending sum. False when a correction was lost to the bound (this one, or an evicted refund). */
  add(key: string, cost: number, limit: RateLimit): boolean {
    // The key last: the two numbers cannot contain '/', so no two buckets share an id.
    const id = `${limit.ratePerMinute}/${limit.burst}/${key}`;
    const entry = this.entries.get(id);
    if (entry !== undefined) {
      entry.cost += cost;
      this.track(id, entry.cost);
      return true;
    }
    if (cost === 0) return true;
    let kept = true;
    if (this.entries.size >= this.maxEntries) {
      const oldestRefund = cost > 0 ? this.refunds.values().next() : null;
      if (!oldestRefund || oldestRefund.done) return false;
      this.entries.delete(oldestRefund.value);
      this.refunds.delete(oldestRefund.value);
      kept = false;
    }
    this.entries.set(id, { key, cost, limit });
    this.track(id, cost);
    return kept;
  }

  /** Removes and returns every pending correction (to be sent; what fails is added back). */
  drain(): BucketTake[] {
    const all = [...this.entries.values()];
    this.entries.clear();
    this.refunds.clear();
    return all;
  }

  private track(id: string, sum: number): void {
    if (sum === 0) {
      // Charges and refunds that cancel out leave nothing to apply.
      this.entries.delete(id);
      this.refunds.delete(id);
    } else if (sum < 0) this.refunds.add(id);
    else this.refunds.delete(id);
  }
}

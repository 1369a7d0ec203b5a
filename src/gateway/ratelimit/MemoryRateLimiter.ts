import { debtFloor, type BucketTake, type RateLimit, type RateLimitResult, type RateLimiter } from './RateLimiter.js';

interface Bucket {
  tokens: number;
  /** Last refill time (ms, monotonic clock). */
  at: number;
  /** Used since the eviction sweep last passed it (CLOCK second-chance bit). */
  hot: boolean;
  /** When the bucket is full again: evicting it from then on loses nothing. */
  fullAt: number;
}

/** Entries an eviction looks at before evicting regardless (bounds the worst case). */
const EVICTION_SCAN = 16;

/**
 * Token buckets in this process: O(1) per take, at most `maxKeys` buckets. Eviction is
 * approximately least-recently-used (CLOCK: a bucket used since the sweep last passed it gets a
 * second chance), which keeps the hit path to one Map lookup instead of a delete + re-insert.
 * An evicted bucket comes back full, so the sweep takes buckets that are full again first and
 * passes over buckets in debt (a principal must not shed its debt by making others' requests
 * evict it); only when a whole scan finds neither does it evict regardless. Size `maxKeys`
 * above the number of active keys. Requests refused create no bucket. For one gateway
 * instance; replicas share limits through RedisRateLimiter.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  /** @param options.now clock in ms (tests); default performance.now(), which never steps back. */
  constructor(options: { maxKeys?: number; now?: () => number } = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    // Monotonic: a wall-clock step (NTP, VM resume) must neither freeze refills nor refill every bucket at once.
    this.now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Tokens in `key`'s bucket now, refilled; a bucket that does not exist is full. Creates nothing. */
  private tokensNow(key: string, limit: RateLimit, now: number): number {
    const b = this.buckets.get(key);
    if (!b) return limit.burst;
    b.hot = true;
    if (now > b.at) {
      b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) * limit.ratePerMinute) / 60_000);
      b.at = now;
    }
    return b.tokens;
  }

  /**
   * Takes `cost` from `key`'s bucket (created full if missing, after tokensNow refilled it); returns
   * what is left. Only usage corrections are floored at debtFloor: an admission charge is taken
   * whole, because its refund (the unused reservation) is later given back whole.
   */
  private charge(key: string, cost: number, limit: RateLimit, now: number, floored: boolean): number {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evictOne(now);
      b = { tokens: limit.burst, at: now, hot: false, fullAt: now };
      this.buckets.set(key, b);
    }
    const left = Math.min(limit.burst, b.tokens - cost);
    b.tokens = floored ? Math.max(debtFloor(limit), left) : left;
    b.fullAt = now + ((limit.burst - b.tokens) * 60_000) / limit.ratePerMinute;
    return b.tokens;
  }

  private evictOne(now: number): void {
    for (let i = 0; i < EVICTION_SCAN; i++) {
      const [key, b] = this.buckets.entries().next().value!;
      this.buckets.delete(key);
      if (b.fullAt <= now || (!b.hot && b.tokens >= 0)) return;
      b.hot = false;
      this.buckets.set(key, b);
    }
    this.buckets.delete(this.buckets.keys().next().value!);
  }

  take(key: string, cost: number, limit: RateLimit): RateLimitResult {
    return this.takeMany([{ key, cost, limit }]);
  }

  takeMany(takes: readonly BucketTake[]): RateLimitResult {
    const now = this.now();
    let retry = 0;
    for (let i = 0; i < takes.length; i++) {
      const t = takes[i]!;
      const tokens = this.tokensNow(t.key, t.limit, now);
      const need = Math.min(t.cost, t.limit.burst);
      if (tokens < need) retry = Math.max(retry, Math.ceil(((need - tokens) * 60_000) / t.limit.ratePerMinute));
    }
    if (retry > 0) return { allowed: false, retryAfterMs: retry, remaining: 0 };
    let remaining = Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < takes.length; i++) {
      const t = takes[i]!;
      const left = this.charge(t.key, t.cost, t.limit, now, false);
      remaining = Math.min(remaining, left > 0 ? Math.floor(left) : 0);
    }
    return { allowed: true, retryAfterMs: 0, remaining };
  }

  adjust(key: string, cost: number, limit: RateLimit): void {
    const now = this.now();
    this.tokensNow(key, limit, now);
    this.charge(key, cost, limit, now, true);
  }
}

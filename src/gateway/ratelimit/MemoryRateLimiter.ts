import type { BucketTake, RateLimit, RateLimitResult, RateLimiter } from './RateLimiter.js';

interface Bucket {
  tokens: number;
  /** Last refill time (ms). */
  at: number;
  /** Used since the eviction sweep last passed it (CLOCK second-chance bit). */
  hot: boolean;
}

/** Entries an eviction looks at before evicting regardless (bounds the worst case). */
const EVICTION_SCAN = 16;

/**
 * Token buckets in this process: O(1) per take, at most `maxKeys` buckets. Eviction is
 * approximately least-recently-used (CLOCK: a bucket used since the sweep last passed it gets a
 * second chance), which keeps the hit path to one Map lookup instead of a delete + re-insert.
 * An evicted bucket comes back full, i.e. eviction can only be more permissive, so size
 * `maxKeys` above the number of active keys. For one gateway instance; replicas share
 * limits through RedisRateLimiter.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(options: { maxKeys?: number; now?: () => number } = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.buckets.size;
  }

  private bucket(key: string, limit: RateLimit, now: number): Bucket {
    let b = this.buckets.get(key);
    if (b) {
      b.hot = true;
      if (now > b.at) {
        b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) * limit.ratePerMinute) / 60_000);
        b.at = now;
      }
      return b;
    }
    if (this.buckets.size >= this.maxKeys) this.evictOne();
    b = { tokens: limit.burst, at: now, hot: false };
    this.buckets.set(key, b);
    return b;
  }

  private evictOne(): void {
    for (let i = 0; i < EVICTION_SCAN; i++) {
      const [key, b] = this.buckets.entries().next().value!;
      this.buckets.delete(key);
      if (!b.hot) return;
      b.hot = false;
      this.buckets.set(key, b);
    }
    this.buckets.delete(this.buckets.keys().next().value!);
  }

  take(key: string, cost: number, limit: RateLimit): RateLimitResult {
    const now = this.now();
    const b = this.bucket(key, limit, now);
    const need = Math.min(cost, limit.burst);
    if (b.tokens < need) return { allowed: false, retryAfterMs: Math.ceil(((need - b.tokens) * 60_000) / limit.ratePerMinute), remaining: 0 };
    b.tokens -= cost;
    return { allowed: true, retryAfterMs: 0, remaining: b.tokens > 0 ? Math.floor(b.tokens) : 0 };
  }

  takeMany(takes: readonly BucketTake[]): RateLimitResult {
    if (takes.length === 1) return this.take(takes[0]!.key, takes[0]!.cost, takes[0]!.limit);
    const now = this.now();
    let retry = 0;
    for (let i = 0; i < takes.length; i++) {
      const t = takes[i]!;
      const tokens = this.bucket(t.key, t.limit, now).tokens;
      const need = Math.min(t.cost, t.limit.burst);
      if (tokens < need) retry = Math.max(retry, Math.ceil(((need - tokens) * 60_000) / t.limit.ratePerMinute));
    }
    if (retry > 0) return { allowed: false, retryAfterMs: retry, remaining: 0 };
    let remaining = Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < takes.length; i++) {
      const b = this.buckets.get(takes[i]!.key);
      // A bucket evicted between the two loops (more takes than maxKeys) is simply skipped.
      if (!b) continue;
      b.tokens -= takes[i]!.cost;
      remaining = Math.min(remaining, b.tokens > 0 ? Math.floor(b.tokens) : 0);
    }
    return { allowed: true, retryAfterMs: 0, remaining };
  }

  adjust(key: string, cost: number, limit: RateLimit): void {
    const b = this.bucket(key, limit, this.now());
    b.tokens = Math.min(limit.burst, b.tokens - cost);
  }
}

/** A token bucket's shape: refills at `ratePerMinute`, holds at most `burst`. */
export interface RateLimit {
  ratePerMinute: number;
  burst: number;
}

/**
 * Deepest a usage correction takes a bucket into debt: one hour of its own refill. Bounding it
 * bounds how long any one report (an upstream claiming 2^64 tokens, say) can lock a principal
 * out, while an honest call far above the burst still costs up to an hour of the rule's rate.
 * Admission charges are not floored: they are bounded already (prompt + capped reservation), and
 * the refund of an unused reservation must not give back more than was taken.
 */
export const MAX_DEBT_MS = 3_600_000;

/** The lowest a bucket of `limit` goes (tokens; negative = debt). */
export function debtFloor(limit: RateLimit): number {
  return -(limit.ratePerMinute * MAX_DEBT_MS) / 60_000;
}

export interface RateLimitResult {
  allowed: boolean;
  /** When denied: how long until the request would be allowed (ms); 0 when allowed. */
  retryAfterMs: number;
  /** Whole tokens left in the emptiest bucket after this call (0 when denied or in debt). */
  remaining: number;
}

export interface BucketTake {
  key: string;
  cost: number;
  limit: RateLimit;
}

/**
 * Token buckets keyed by string. `take` consumes `cost` or nothing; `takeMany` is all-or-nothing
 * over several buckets (one request checked against several rules consumes from all or none).
 * A cost above the burst is allowed once the bucket holds a full burst and leaves the bucket in
 * debt, so a large prompt is not refused forever yet the long-run rate still holds.
 * Results are synchronous (memory) or a single promise (Redis): callers `await` once.
 */
export interface RateLimiter {
  take(key: string, cost: number, limit: RateLimit): RateLimitResult | Promise<RateLimitResult>;
  takeMany(takes: readonly BucketTake[]): RateLimitResult | Promise<RateLimitResult>;
  /** Adds `cost` (negative = refund, capped at the burst; debt floored at debtFloor) without a check: usage corrections. */
  adjust(key: string, cost: number, limit: RateLimit): void | Promise<void>;
  close?(): Promise<void>;
}

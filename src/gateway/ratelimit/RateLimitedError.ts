import { WardenError } from '../../errors/index.js';

/** Longest `retry-after` given: a day (a wait beyond it is a misconfigured or corrupted bucket). */
export const MAX_RETRY_AFTER_SECONDS = 86_400;

/**
 * Whole seconds to wait, 1 to a day. A wait that is not a finite number ≥ 0 is an overflow
 * (of a corrupted bucket), never "retry in 1 s": it gets the longest wait.
 */
export function retryAfterSeconds(retryAfterMs: number): number {
  if (!Number.isFinite(retryAfterMs) || retryAfterMs < 0) return MAX_RETRY_AFTER_SECONDS;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

/** 429 with the number of seconds for the `retry-after` header (RFC 9110 §10.2.3). */
export class RateLimitedError extends WardenError {
  readonly retryAfterSeconds: number;

  constructor(code: 'WARDEN_GATEWAY_RATE_LIMITED' | 'WARDEN_GATEWAY_CONCURRENCY_LIMITED' | 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN', message: string, retryAfterMs: number) {
    super(code, message);
    this.name = 'RateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds(retryAfterMs);
  }
}

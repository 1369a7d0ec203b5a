import { WardenError } from '../../errors/index.js';

/** 429 with the number of seconds for the `retry-after` header (RFC 9110 §10.2.3). */
export class RateLimitedError extends WardenError {
  readonly retryAfterSeconds: number;

  constructor(code: 'WARDEN_GATEWAY_RATE_LIMITED' | 'WARDEN_GATEWAY_CONCURRENCY_LIMITED' | 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN', message: string, retryAfterMs: number) {
    super(code, message);
    this.name = 'RateLimitedError';
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}

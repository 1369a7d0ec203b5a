import { MemoryRateLimiter } from './MemoryRateLimiter.js';
import { RedisRateLimiter } from './RedisRateLimiter.js';
import { RateLimitPolicy, type RateLimitRule } from './RateLimitPolicy.js';
import type { RateLimiter } from './RateLimiter.js';

/** Shape of `gateway.rateLimit` in warden.yaml. */
export interface RateLimitConfig {
  backend: 'memory' | 'redis';
  redisUrl: string;
  redisKeyPrefix: string;
  onStoreDown: 'fail-closed' | 'memory';
  redisTimeoutMs: number;
  maxKeys: number;
  /** Redis: how long a concurrency slot outlives its last renewal (a crashed replica's slots free themselves). */
  concurrencyLeaseSeconds: number;
  /** Completion tokens a chat/completions call without max_tokens reserves at admission. */
  completionReserveTokens: number;
  /** Most completion tokens one call reserves, whatever its max_tokens × choices. */
  maxCompletionReserveTokens: number;
  rules: RateLimitRule[];
}

export interface RateLimiting {
  policy: RateLimitPolicy;
  limiter: RateLimiter;
  /** Resolves when the store answers (Redis); call at startup. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the limiter for the configured backend and the rule policy over it. */
export function createRateLimitPolicy(config: RateLimitConfig, o: { onStoreError?: (err: unknown) => void } = {}): RateLimiting {
  const redis =
    config.backend === 'redis'
      ? new RedisRateLimiter({ redis: config.redisUrl, keyPrefix: config.redisKeyPrefix, timeoutMs: config.redisTimeoutMs, onStoreDown: config.onStoreDown, maxKeys: config.maxKeys, onStoreError: o.onStoreError })
      : null;
  const limiter: RateLimiter = redis ?? new MemoryRateLimiter({ maxKeys: config.maxKeys });
  return {
    policy: new RateLimitPolicy(config.rules, {
      limiter,
      concurrency: redis?.slots(config.concurrencyLeaseSeconds * 1000),
      completionReserve: { defaultTokens: config.completionReserveTokens, maxTokens: config.maxCompletionReserveTokens },
    }),
    limiter,
    ready: async () => {
      if (redis && config.rules.length > 0) await redis.ready();
    },
    close: async () => {
      await redis?.close();
    },
  };
}

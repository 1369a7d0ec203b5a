import { WardenError } from '../../errors/index.js';
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
  /**
   * Call at startup. Resolves when the store answers (Redis). A store that does not answer
   * rejects (fail-closed), or, with `onStoreDown: memory`, is reported once (onStoreError) and
   * resolves: the limiter counts per replica until Redis answers again (the client reconnects).
   */
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
      if (!redis || config.rules.length === 0) return;
      try {
        await redis.ready();
      } catch (err) {
        // Fail-closed: a gateway that could only refuse every request does not start.
        if (config.onStoreDown !== 'memory') throw err;
        redis.reportStoreDown(new WardenError('WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE', 'Redis did not answer at start-up; limiting per replica (memory) until it does', { cause: err }));
      }
    },
    close: async () => {
      await redis?.close();
    },
  };
}

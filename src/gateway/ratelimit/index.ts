export type { RateLimiter, RateLimit, RateLimitResult, BucketTake } from './RateLimiter.js';
export { MemoryRateLimiter } from './MemoryRateLimiter.js';
export { RedisRateLimiter, TOKEN_BUCKET_LUA, type RedisRateLimiterOptions } from './RedisRateLimiter.js';
export { ConcurrencyLimiter } from './ConcurrencyLimiter.js';
export { RateLimitPolicy, RateLimitGrant, type RateLimitRule, type RateLimitSubject, type TokenUsage } from './RateLimitPolicy.js';
export { RateLimitedError } from './RateLimitedError.js';
export { reserveCompletionTokens, DEFAULT_COMPLETION_RESERVE, type CompletionReserveConfig, type CompletionReservation } from './reserveCompletionTokens.js';
export { estimatePromptTokens, completionChars, tokensFromChars } from './estimatePromptTokens.js';
export { createRateLimitPolicy, type RateLimitConfig, type RateLimiting } from './createRateLimitPolicy.js';

// Re-exports the building blocks stages use, so stage files import one place.
export { usageTotal, estimatePromptTokens, promptTokenCeiling, reserveCompletionTokens, completionChars, MODEL_TEXT_FIELDS, tokensFromChars, RateLimitedError, type RateLimitPolicy, type RateLimitGrant } from './ratelimit/index.js';
export { type Authenticators } from './authn/index.js';
export type { RequestValidator } from './validate/index.js';

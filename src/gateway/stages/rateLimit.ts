import { entityToString } from '../../policy/index.js';
import { estimatePromptTokens, promptTokenCeiling, reserveCompletionTokens, type RateLimitPolicy } from '../index-internal.js';
import type { RequestContext } from '../RequestContext.js';

/** Routes whose calls consume model tokens (the upstream reports `usage`). */
const TOKEN_ROUTES = new Set(['openai.chat', 'openai.completions', 'openai.embeddings']);

/** Routes whose calls generate completion tokens, reserved at admission (embeddings generate none). */
const COMPLETION_ROUTES = new Set(['openai.chat', 'openai.completions']);

/**
 * Stage: requests/min, tokens/min (prompt estimate + completion reservation now, corrected from
 * `usage` later) and concurrency per matching rule.
 */
export async function rateLimit(ctx: RequestContext, policy: RateLimitPolicy | null): Promise<void> {
  if (!policy?.active || !ctx.principal) return;
  const route = ctx.route?.kind;
  // At least one token, so an empty prompt still goes through the token buckets (and its completion
  // is charged after). Only estimated when some rule limits tokens: it walks the whole body.
  const estimatedTokens = policy.limitsTokens && route !== undefined && TOKEN_ROUTES.has(route) && ctx.json ? Math.max(1, estimatePromptTokens(ctx.json)) : 0;
  const completion = estimatedTokens > 0 && COMPLETION_ROUTES.has(route!) ? reserveCompletionTokens(ctx.json!, policy.completionReserve) : undefined;
  // Bounds the reported usage by the body's size, not by the estimate, which the client shapes.
  const promptCeiling = estimatedTokens > 0 ? promptTokenCeiling(ctx.json!, ctx.body?.length ?? 0) : undefined;
  const p = ctx.principal;
  const grant = policy.check({
    principal: entityToString(p.entity),
    key: p.method === 'api-key' ? p.id : null,
    tenant: p.tenant ?? null,
    model: ctx.route?.model ?? null,
    estimatedTokens,
    promptCeiling,
    completion,
  });
  ctx.rateGrant = grant instanceof Promise ? await grant : grant;
}

import { entityToString } from '../../policy/index.js';
import { estimatePromptTokens, tenantOf, type RateLimitPolicy } from '../index-internal.js';
import type { RequestContext } from '../RequestContext.js';

/** Stage: requests/min, tokens/min (estimated now, corrected from `usage` later) and concurrency per matching rule. */
export async function rateLimit(ctx: RequestContext, policy: RateLimitPolicy | null): Promise<void> {
  if (!policy?.active || !ctx.principal) return;
  const p = ctx.principal;
  const grant = policy.check({
    principal: entityToString(p.entity),
    key: p.method === 'api-key' ? p.id : null,
    tenant: tenantOf(p.parents),
    model: ctx.route?.model ?? null,
    estimatedTokens: ctx.json ? estimatePromptTokens(ctx.json) : 0,
  });
  ctx.rateGrant = grant instanceof Promise ? await grant : grant;
}

import { WardenError } from '../../errors/index.js';
import type { AuthzRequest } from '../../policy/index.js';
import type { RequestContext } from '../RequestContext.js';

export interface AuthorizeOptions {
  region: string;
}

/** Builds the Cedar request for a model invocation. */
export function invokeRequest(ctx: RequestContext, model: string, options: AuthorizeOptions): AuthzRequest {
  const principal = ctx.principal!;
  const headers = ctx.req.headers;
  return {
    principal: principal.entity,
    principalParents: principal.parents,
    action: { type: 'Action', id: 'invoke' },
    resource: { type: 'Model', id: model },
    context: {
      region: options.region,
      classification: typeof headers['x-warden-classification'] === 'string' ? headers['x-warden-classification'] : 'internal',
      mfa: false,
      sourceIp: ctx.sourceIp,
      time: Math.floor(Date.now() / 1000),
      route: ctx.route?.kind ?? 'unknown',
    },
  };
}

/** Stage 3: every request that names a model is authorized; default deny. */
export function authorize(ctx: RequestContext, options: AuthorizeOptions): void {
  const model = ctx.route?.model;
  if (!model) return;
  const decision = ctx.snapshot.authorizer.authorize(invokeRequest(ctx, model, options));
  ctx.decision = decision;
  if (decision.decision !== 'allow') {
    throw new WardenError('WARDEN_AUTHZ_DENIED', `not allowed to invoke model ${JSON.stringify(model)}`);
  }
}

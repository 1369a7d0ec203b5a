import { WardenError } from '../../errors/index.js';
import { buildRequestContext, type AuthzRequest } from '../../policy/index.js';
import type { RequestContext } from '../RequestContext.js';
import { servingVersion } from './admit.js';

export interface AuthorizeOptions {
  /** Region this gateway runs in (context.region, for data-residency policies). */
  region: string;
  /** Classification of the data a model serves (from its upstream's config). */
  classificationOf(model: string): string;
}

const CLASSIFICATION_RANK: Record<string, number> = { public: 0, internal: 1, confidential: 2, restricted: 3 };

/** A client may raise the classification of its request (x-warden-data-classification) but never lower it below the model's. */
function effectiveClassification(declared: unknown, configured: string): string {
  if (typeof declared !== 'string' || !(declared in CLASSIFICATION_RANK)) return configured;
  return CLASSIFICATION_RANK[declared]! > (CLASSIFICATION_RANK[configured] ?? 1) ? declared : configured;
}

/** Builds the Cedar request for invoking a model (DESIGN.md: model, version, tenant, region, classification in context). */
export function invokeRequest(ctx: RequestContext, model: string, options: AuthorizeOptions): AuthzRequest {
  const principal = ctx.principal!;
  const classification = effectiveClassification(ctx.req.headers['x-warden-data-classification'], options.classificationOf(model));
  // A call without a version is a call to the serving version: authorized as that ModelVersion, so
  // a policy on a version (forbid M@2, a stage attribute) holds on every route that reaches it.
  // Feedback labels are about the model, not one version.
  const feedback = ctx.route?.kind === 'feedback';
  const version = ctx.route?.version ?? (feedback ? null : servingVersion(ctx, model));
  return {
    principal: principal.entity,
    principalParents: principal.parents,
    // Feedback labels feed the model's accuracy monitor: a separate action, so policies can grant it apart from invoke.
    action: { type: 'Action', id: feedback ? 'submitFeedback' : 'invoke' },
    resource: version ? { type: 'ModelVersion', id: `${model}@${version}` } : { type: 'Model', id: model },
    resourceParents: version ? [{ type: 'Model', id: model }] : undefined,
    context: buildRequestContext({
      region: options.region,
      classification,
      mfa: principal.mfa === true,
      sourceIp: ctx.sourceIp,
    }),
  };
}

/** Stage 3: every request that names a model is authorized by the Cedar policy set; default deny. */
export function authorize(ctx: RequestContext, options: AuthorizeOptions): void {
  const model = ctx.route?.model;
  if (!model) return;
  const decision = ctx.snapshot.authorizer.authorize(invokeRequest(ctx, model, options));
  ctx.decision = decision;
  if (decision.decision !== 'allow') {
    const failedForbid = decision.errors.length > 0 && decision.determining.some((id) => decision.errors.some((e) => e.policyId === id));
    const why = failedForbid ? ' (a forbid policy could not be evaluated for this request, so it denies; the audit record names it)' : '';
    throw new WardenError('WARDEN_AUTHZ_DENIED', `not allowed to ${ctx.route?.kind === 'feedback' ? 'submit feedback for' : 'invoke'} model ${JSON.stringify(model)}${why}`);
  }
}

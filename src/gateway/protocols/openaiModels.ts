import { WardenError } from '../../errors/index.js';
import type { AuthzRequest } from '../../policy/index.js';
import type { RequestContext } from '../RequestContext.js';
import type { UpstreamPool } from '../UpstreamPool.js';
import { invokeRequest, type AuthorizeOptions } from '../stages/authorize.js';
import { isAdmissible } from '../stages/admit.js';

/** OpenAI's model object; Warden knows no creation time or owner of the models it fronts. */
function modelObject(id: string): { id: string; object: 'model'; created: number; owned_by: string } {
  return { id, object: 'model', created: 0, owned_by: 'warden' };
}

/**
 * Models the gateway knows it routes: those named in an upstream's `models`, and, when an upstream
 * takes every other model (`*`), the models registered in the artifact registry (they route there
 * unless named elsewhere). A model reached only through `*` and never registered cannot be known
 * without asking the model server, so it is not listed, though calls to it are forwarded.
 */
function routedModels(ctx: RequestContext, upstreams: UpstreamPool): string[] {
  const named = upstreams.knownModels();
  if (!upstreams.hasCatchAll()) return named;
  return [...new Set([...named, ...ctx.snapshot.admission.models.keys()])].sort();
}

/** Whether the caller could invoke the model now: the policy allows it and admission would not refuse it. */
function invocable(ctx: RequestContext, model: string, authz: AuthorizeOptions): boolean {
  return isAdmissible(ctx, model) && ctx.snapshot.authorizer.authorize(invokeRequest(ctx, model, authz)).decision === 'allow';
}

/** GET /v1/models: only the models the caller could invoke. */
export function listModels(ctx: RequestContext, upstreams: UpstreamPool, authz: AuthorizeOptions): unknown {
  return { object: 'list', data: routedModels(ctx, upstreams).filter((m) => invocable(ctx, m, authz)).map(modelObject) };
}

/** Version of the stand-in authorized for an unknown id; the decision is discarded, so it names nothing real. */
const PLACEHOLDER_VERSION = 'warden-unknown';

/**
 * The Cedar request for a lookup. For an id the gateway does not route, a stand-in of the shape a
 * registered model has (a ModelVersion whose parent is the Model): the lookup then evaluates the
 * policies on that id as it would for a model the caller may not see.
 */
function lookupRequest(ctx: RequestContext, id: string, authz: AuthorizeOptions, routed: boolean): AuthzRequest {
  const request = invokeRequest(ctx, id, authz);
  if (routed || request.resource.type === 'ModelVersion') return request;
  return { ...request, resource: { type: 'ModelVersion', id: `${id}@${PLACEHOLDER_VERSION}` }, resourceParents: [{ type: 'Model', id }] };
}

/**
 * GET /v1/models/{id}: the model when the list would hold it. Unknown and not-invocable models get
 * the same 404, so a caller learns nothing of models it may not use: neither from the answer nor
 * from its time, since admission and the policy run for every id (the pipeline also coarsens this
 * route's x-warden-overhead-ms to whole milliseconds).
 */
export function retrieveModel(ctx: RequestContext, upstreams: UpstreamPool, authz: AuthorizeOptions): unknown {
  const id = ctx.route?.lookup ?? null;
  if (id !== null) {
    // The audit record names the model asked about (and the policies that decided, when asked).
    ctx.route!.model = id;
    const routed = upstreams.namesModel(id) || (upstreams.hasCatchAll() && ctx.snapshot.admission.models.has(id));
    // Both checks run whatever the other says, for known and unknown ids alike (no short circuit).
    const admissible = isAdmissible(ctx, id);
    const decision = ctx.snapshot.authorizer.authorize(lookupRequest(ctx, id, authz, routed));
    if (routed) {
      ctx.decision = decision;
      if (admissible && decision.decision === 'allow') return modelObject(id);
    }
  }
  throw new WardenError('WARDEN_GATEWAY_ROUTE_NOT_FOUND', 'no such model, or you may not invoke it');
}

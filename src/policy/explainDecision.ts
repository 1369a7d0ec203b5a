import { WardenError } from '../errors/index.js';
import type { AuthzRequest, Decision, EntityRef } from './Authorizer.js';
import type { CompiledPolicySet } from './CompiledPolicySet.js';
import { parseEntityRef } from './requestContext.js';

export interface Explanation {
  decision: Decision['decision'];
  /** Why: the permits that allowed, the forbids that denied, or none (default deny). */
  reason: 'permitted' | 'forbidden' | 'no-permit-applies';
  determining: { id: string; effect: 'permit' | 'forbid'; text: string }[];
  errors: { policyId: string; message: string }[];
  policyVersion: string;
  evaluator: 'compiled' | 'cedar-wasm';
  request: { principal: string; action: string; resource: string; context: Record<string, unknown> };
  /**
   * Set by the control plane: whether the permits generated from API key scopes were evaluated
   * with the policies (as PEPs do), so a key's grant can be told from a missing one.
   */
  keyScopesIncluded?: boolean;
}

const show = (e: EntityRef): string => `${e.type}::${JSON.stringify(e.id)}`;

/** A decision with the text of the policies that determined it, for humans and audit. */
export function explainDecision(set: CompiledPolicySet, request: AuthzRequest): Explanation {
  const before = set.stats.referenceDecisions;
  const d = set.authorize(request);
  const determining = d.determining.map((id) => {
    const p = set.policy(id);
    return { id, effect: p?.effect ?? 'permit', text: p?.text ?? '' };
  });
  return {
    decision: d.decision,
    reason: d.decision === 'allow' ? 'permitted' : determining.length > 0 ? 'forbidden' : 'no-permit-applies',
    determining,
    errors: d.errors,
    policyVersion: set.version,
    evaluator: set.stats.referenceDecisions !== before ? 'cedar-wasm' : 'compiled',
    request: { principal: show(request.principal), action: show(request.action), resource: show(request.resource), context: request.context },
  };
}

/** Untrusted request input (CLI flags, admin API body) → AuthzRequest. */
export interface AuthzRequestInput {
  principal: unknown;
  action: unknown;
  resource: unknown;
  context?: unknown;
  principalParents?: unknown;
  resourceParents?: unknown;
}

function entity(v: unknown, what: string, defaultType?: string): EntityRef {
  if (typeof v === 'string') {
    if (defaultType && /^[A-Za-z0-9_:.-]{1,128}$/.test(v) && !v.includes('"')) return { type: defaultType, id: v };
    return parseEntityRef(v);
  }
  const o = v as { type?: unknown; id?: unknown } | null;
  if (o && typeof o === 'object' && typeof o.type === 'string' && typeof o.id === 'string' && o.type.length <= 256 && o.id.length <= 4096) return { type: o.type, id: o.id };
  throw new WardenError('WARDEN_POLICY_REQUEST_INVALID', `${what} must be an entity like User::"alice" or {"type","id"}`);
}

export function parseAuthzRequest(input: AuthzRequestInput): AuthzRequest {
  const context = input.context ?? {};
  if (typeof context !== 'object' || context === null || Array.isArray(context)) throw new WardenError('WARDEN_POLICY_REQUEST_INVALID', 'context must be a JSON object');
  const parents = (v: unknown, what: string): EntityRef[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length > 256) throw new WardenError('WARDEN_POLICY_REQUEST_INVALID', `${what} must be a list of entities`);
    return v.map((x) => entity(x, what));
  };
  return {
    principal: entity(input.principal, 'principal'),
    action: entity(input.action, 'action', 'Action'),
    resource: entity(input.resource, 'resource'),
    context: context as Record<string, unknown>,
    principalParents: parents(input.principalParents, 'principalParents'),
    resourceParents: parents(input.resourceParents, 'resourceParents'),
  };
}

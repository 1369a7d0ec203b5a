import { randomUUID } from 'node:crypto';
import type { Authorizer, AuthzRequest, Decision } from './Authorizer.js';
import { cedarWasm } from './cedarWasm.js';
import type { CedarEntityJson } from './cedar/EntityStore.js';
import type { ParsedPolicy } from './parsePolicySet.js';
import { requestEntitiesJson } from './requestEntities.js';

export const REQUEST_ERROR_ID = '(request)';

/**
 * cedar-wasm `statefulIsAuthorized` behind the Authorizer interface: the fallback for policy
 * sets the compiler does not handle, and the baseline the bench and differential tests use.
 */
export class ReferenceAuthorizer implements Authorizer {
  private readonly setId = `warden-${randomUUID()}`;
  private readonly order: Map<string, number>;

  constructor(
    readonly version: string,
    policies: readonly ParsedPolicy[],
    private readonly entities: readonly CedarEntityJson[],
  ) {
    this.order = new Map(policies.map((p) => [p.id, p.index]));
    const r = cedarWasm.preparsePolicySet(this.setId, { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) });
    if (r.type === 'failure') throw new Error(`cedar-wasm rejected a policy set it parsed: ${r.errors[0]?.message ?? ''}`);
  }

  authorize(request: AuthzRequest): Decision {
    let answer: ReturnType<typeof cedarWasm.statefulIsAuthorized>;
    try {
      answer = cedarWasm.statefulIsAuthorized({
        principal: { type: request.principal.type, id: request.principal.id },
        action: { type: request.action.type, id: request.action.id },
        resource: { type: request.resource.type, id: request.resource.id },
        context: request.context as Record<string, never>,
        preparsedPolicySetId: this.setId,
        entities: requestEntitiesJson(this.entities, request) as never,
      });
    } catch (err) {
      // cedar-wasm throws (rather than answering failure) on input it cannot take, e.g. a lone
      // surrogate in an id: that request is denied (fail closed), not turned into a 500.
      return { decision: 'deny', determining: [], errors: [{ policyId: REQUEST_ERROR_ID, message: `cedar-wasm refused the request: ${(err as Error).message}` }] };
    }
    return this.answerOf(answer);
  }

  private answerOf(answer: ReturnType<typeof cedarWasm.statefulIsAuthorized>): Decision {
    if (answer.type === 'failure') {
      return { decision: 'deny', determining: [], errors: [{ policyId: REQUEST_ERROR_ID, message: answer.errors.map((e) => e.message).join('; ') }] };
    }
    const byOrder = (a: string, b: string): number => (this.order.get(a) ?? 0) - (this.order.get(b) ?? 0);
    return {
      decision: answer.response.decision,
      determining: [...answer.response.diagnostics.reason].sort(byOrder),
      errors: answer.response.diagnostics.errors
        .map((e) => ({ policyId: e.policyId, message: e.error.message }))
        .sort((a, b) => byOrder(a.policyId, b.policyId)),
    };
  }
}

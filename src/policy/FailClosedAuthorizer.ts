import type { Authorizer, AuthzRequest, Decision } from './Authorizer.js';
import type { CompiledPolicySet } from './CompiledPolicySet.js';

/**
 * What a PEP decides with: Cedar's decision, except that a `forbid` whose condition raised an
 * error denies. Cedar skips an erroring policy, so a forbid over an attribute a principal lacks
 * (no schema to force a `has` check) would let a permit through; Warden fails closed instead.
 * The explain tools keep Cedar's own answer and list the error either way.
 */
export class FailClosedAuthorizer implements Authorizer {
  private readonly forbids: ReadonlySet<string>;

  constructor(private readonly set: CompiledPolicySet) {
    this.forbids = new Set(set.policies.filter((p) => p.effect === 'forbid').map((p) => p.id));
  }

  get version(): string {
    return this.set.version;
  }

  authorize(request: AuthzRequest): Decision {
    const d = this.set.authorize(request);
    if (d.decision === 'deny' || d.errors.length === 0) return d;
    const failedForbids = d.errors.filter((e) => this.forbids.has(e.policyId)).map((e) => e.policyId);
    return failedForbids.length === 0 ? d : { decision: 'deny', determining: failedForbids, errors: d.errors };
  }
}

import { entityToString, type Authorizer, type AuthzRequest, type Decision } from '../../policy/index.js';

/**
 * deployModel decisions when no Cedar authorizer is wired in: the principals listed in
 * `artifacts.promotion.approvers` may approve any model; everyone else is denied (default deny).
 */
export class ApproverListAuthorizer implements Authorizer {
  readonly version = 'approvers-v1';
  private readonly allowed: Set<string>;

  constructor(approvers: readonly string[]) {
    this.allowed = new Set(approvers);
  }

  authorize(request: AuthzRequest): Decision {
    const p = entityToString(request.principal);
    if (request.action.id === 'deployModel' && this.allowed.has(p)) return { decision: 'allow', determining: ['config:artifacts.promotion.approvers'], errors: [] };
    return { decision: 'deny', determining: [], errors: [] };
  }
}

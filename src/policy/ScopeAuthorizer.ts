import type { Authorizer, AuthzRequest, Decision } from './Authorizer.js';

/**
 * The walking skeleton's rule: an API key may invoke the models listed in its scopes
 * ("model:<name>" or "model:*"). Default deny. Replaced by the Cedar engine.
 */
export class ScopeAuthorizer implements Authorizer {
  readonly version = 'scopes-v1';

  constructor(private readonly scopesByPrincipal: ReadonlyMap<string, readonly string[]>) {}

  authorize(request: AuthzRequest): Decision {
    const key = `${request.principal.type}::${JSON.stringify(request.principal.id)}`;
    const scopes = this.scopesByPrincipal.get(key) ?? [];
    const model = request.resource.id;
    if (scopes.includes('model:*')) return { decision: 'allow', determining: ['scope:model:*'], errors: [] };
    if (scopes.includes(`model:${model}`)) return { decision: 'allow', determining: [`scope:model:${model}`], errors: [] };
    return { decision: 'deny', determining: [], errors: [] };
  }
}

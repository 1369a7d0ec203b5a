import type { Authorizer, AuthzRequest, Decision } from '../../policy/index.js';
import { spiffeIdMatches, spiffePathValue } from '../../identity/index.js';

export interface AllowRule {
  /** Caller SPIFFE ID or prefix ending in /* */
  from: string;
  /** Callee SPIFFE ID or prefix ending in /* ('*' = any). */
  to: string;
  /** Exact paths or prefixes ending in * ('*' = all). */
  paths: string[];
  /** HTTP methods ('*' = all). */
  methods: string[];
  /** Lets this rule cross an env/tenant boundary (otherwise such calls are denied even when matched). */
  crossBoundary?: boolean;
}

const DENY_DEFAULT: Decision = Object.freeze({ decision: 'deny', determining: [], errors: [] }) as Decision;

function pathMatches(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

function boundaryOf(id: string, key: 'env' | 'tenant'): string | undefined {
  try {
    return spiffePathValue(id, key);
  } catch {
    return undefined;
  }
}

/**
 * Segmentation as a plain allow-list with the same meaning the Cedar `connect` policies will
 * have: principal Service::"<caller>", action Action::"connect", resource Service::"<callee>",
 * context { path, method, environment }. Default deny. Environments and tenants (the `/env/<e>`
 * and `/tenant/<t>` segments of SPIFFE IDs, or context.environment for the callee) are
 * isolated: a rule only crosses them with crossBoundary: true.
 */
export class AllowListAuthorizer implements Authorizer {
  readonly version: string;
  private readonly rules: (AllowRule & { id: string })[];

  constructor(rules: readonly AllowRule[]) {
    this.rules = rules.map((r, i) => ({ ...r, methods: r.methods.map((m) => m.toUpperCase()), id: `allow-${i}` }));
    this.version = `allowlist:${this.rules.length}:${JSON.stringify(this.rules).length}`;
  }

  authorize(request: AuthzRequest): Decision {
    if (request.action.type !== 'Action' || request.action.id !== 'connect') return DENY_DEFAULT;
    if (request.principal.type !== 'Service' || request.resource.type !== 'Service') return DENY_DEFAULT;
    const caller = request.principal.id;
    const callee = request.resource.id;
    const path = typeof request.context.path === 'string' ? request.context.path : '';
    const method = typeof request.context.method === 'string' ? request.context.method.toUpperCase() : '';
    const calleeEnv = boundaryOf(callee, 'env') ?? (typeof request.context.environment === 'string' && request.context.environment ? request.context.environment : undefined);
    const callerEnv = boundaryOf(caller, 'env');
    const crossesEnv = callerEnv !== calleeEnv && (callerEnv !== undefined || calleeEnv !== undefined);
    const crossesTenant = boundaryOf(caller, 'tenant') !== boundaryOf(callee, 'tenant');
    for (const rule of this.rules) {
      if (!spiffeIdMatches(rule.from, caller) || !spiffeIdMatches(rule.to, callee)) continue;
      if (!rule.methods.includes('*') && !rule.methods.includes(method)) continue;
      if (!rule.paths.some((p) => pathMatches(p, path))) continue;
      if ((crossesEnv || crossesTenant) && !rule.crossBoundary) continue;
      return { decision: 'allow', determining: [rule.id], errors: [] };
    }
    return DENY_DEFAULT;
  }
}

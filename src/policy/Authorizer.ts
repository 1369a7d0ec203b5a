import type { CedarEntityJson } from './cedar/EntityStore.js';

/** A Cedar entity reference, e.g. { type: 'User', id: 'alice' } → User::"alice". */
export interface EntityRef {
  type: string;
  id: string;
}

export interface AuthzRequest {
  principal: EntityRef;
  action: EntityRef;
  resource: EntityRef;
  /** Cedar context record (region, classification, mfa, sourceIp, time, …). */
  context: Record<string, unknown>;
  /** Parents of the principal (groups, tenant) known from authentication. */
  principalParents?: EntityRef[];
  /** Parents of the resource (e.g. the Model of a ModelVersion). */
  resourceParents?: EntityRef[];
  /**
   * Request-scoped entities in Cedar JSON (e.g. the principal's attributes); they replace
   * entities of the policy set with the same uid. Slower path: the set's hierarchy is rebuilt.
   */
  entities?: CedarEntityJson[];
}

export interface Decision {
  decision: 'allow' | 'deny';
  /** Ids of the policies that determined the decision (permits when allowed, forbids when denied). */
  determining: string[];
  /** Policies skipped because they raised an evaluation error. */
  errors: { policyId: string; message: string }[];
}

/** What a PEP calls on every request. Must be synchronous and allocation-light: it is the hot path. */
export interface Authorizer {
  readonly version: string;
  authorize(request: AuthzRequest): Decision;
}

export function entityToString(e: EntityRef): string {
  return `${e.type}::${JSON.stringify(e.id)}`;
}

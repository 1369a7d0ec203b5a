import type { JWTPayload } from 'jose';
import type { EntityRef } from '../../policy/index.js';

const MAX_GROUPS = 256;
const MAX_ID_LENGTH = 256;

/** Reads `a.b.c` from the claims (Keycloak puts roles under `realm_access.roles`). */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (!path.includes('.')) return payload[path];
  let node: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * Group claim (array or space-separated string) → `Group::"…"` parents, tenant claim →
 * `Tenant::"…"` parent. Values that are not short strings are ignored, not trusted partially.
 */
export function claimsToParents(payload: JWTPayload, groupsClaim: string, tenantClaim: string): EntityRef[] {
  const parents: EntityRef[] = [];
  const groups = claimAt(payload, groupsClaim);
  const list = typeof groups === 'string' ? groups.split(' ') : Array.isArray(groups) ? groups : [];
  for (let i = 0; i < list.length && parents.length < MAX_GROUPS; i++) {
    const g: unknown = list[i];
    if (typeof g === 'string' && g.length > 0 && g.length <= MAX_ID_LENGTH) parents.push({ type: 'Group', id: g });
  }
  const tenant = claimAt(payload, tenantClaim);
  if (typeof tenant === 'string' && tenant.length > 0 && tenant.length <= MAX_ID_LENGTH) parents.push({ type: 'Tenant', id: tenant });
  return parents;
}

/** The tenant of a principal, from its parents (for rate-limit keys). */
export function tenantOf(parents: readonly EntityRef[]): string | null {
  for (const p of parents) if (p.type === 'Tenant') return p.id;
  return null;
}

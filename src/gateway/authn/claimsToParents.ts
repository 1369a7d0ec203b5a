import type { JWTPayload } from 'jose';
import { entityToString, type EntityRef } from '../../policy/index.js';

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

/** Cedar entity types a JWT issuer's groups and tenant become (per issuer, so IdPs cannot speak for each other). */
export interface ClaimTypes {
  groupsClaim: string;
  tenantClaim: string;
  groupType: string;
  tenantType: string;
}

/**
 * Group claim (array or space-separated string) → `Group::"…"` parents, tenant claim →
 * `Tenant::"…"` parent (types per issuer). `tenant` is the rate-limit tenant: the id for type
 * `Tenant`, the whole entity (`PartnerTenant::"acme"`) for another type, so two issuers' tenants of
 * the same name never share a bucket. Values that are not short strings are ignored, not trusted partially.
 */
export function claimsToParents(payload: JWTPayload, t: ClaimTypes): { parents: EntityRef[]; tenant: string | undefined } {
  const parents: EntityRef[] = [];
  const groups = claimAt(payload, t.groupsClaim);
  const list = typeof groups === 'string' ? groups.split(' ') : Array.isArray(groups) ? groups : [];
  for (let i = 0; i < list.length && parents.length < MAX_GROUPS; i++) {
    const g: unknown = list[i];
    if (typeof g === 'string' && g.length > 0 && g.length <= MAX_ID_LENGTH) parents.push({ type: t.groupType, id: g });
  }
  const tenant = claimAt(payload, t.tenantClaim);
  if (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > MAX_ID_LENGTH) return { parents, tenant: undefined };
  const entity = { type: t.tenantType, id: tenant };
  parents.push(entity);
  return { parents, tenant: t.tenantType === 'Tenant' ? tenant : entityToString(entity) };
}

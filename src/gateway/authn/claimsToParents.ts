import type { JWTPayload } from 'jose';
import { WardenError } from '../../errors/index.js';
import { entityToString, type EntityRef } from '../../policy/index.js';

const MAX_GROUPS = 256;
const MAX_ID_LENGTH = 256;

/**
 * Reads a claim: the exact key first (Auth0 requires namespaced names such as
 * `https://example.com/groups`), else the dotted path `a.b.c` (Keycloak's `realm_access.roles`).
 */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path) || !path.includes('.')) return payload[path];
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
  /** `acr` values that prove a second factor, besides `amr` containing `mfa`. */
  mfaAcrValues: ReadonlySet<string>;
}

function refuse(what: string): never {
  throw new WardenError('WARDEN_AUTHN_TOKEN_INVALID', `the bearer token's ${what}`);
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH;
}

/**
 * Group claim (array or space-separated string) → `Group::"…"` parents, tenant claim →
 * `Tenant::"…"` parent (types per issuer). `tenant` is the rate-limit tenant: the id for type
 * `Tenant`, the whole entity (`PartnerTenant::"acme"`) for another type, so two issuers' tenants of
 * the same name never share a bucket. A claim that is present but unusable (another shape, too
 * many groups, an over-long value) refuses the token: dropping a group or tenant silently would
 * let a `forbid` on it stop applying while a `permit` on another group still matched.
 */
export function claimsToParents(payload: JWTPayload, t: ClaimTypes): { parents: EntityRef[]; tenant: string | undefined; mfa: boolean } {
  const parents: EntityRef[] = [];
  const groups = claimAt(payload, t.groupsClaim);
  if (groups !== undefined) {
    const list: unknown[] = typeof groups === 'string' ? groups.split(' ').filter((g) => g !== '') : Array.isArray(groups) ? groups : refuse(`${t.groupsClaim} claim is neither a list nor a string`);
    if (list.length > MAX_GROUPS) refuse(`${t.groupsClaim} claim lists more than ${MAX_GROUPS} groups`);
    for (const g of list) {
      if (!isId(g)) refuse(`${t.groupsClaim} claim holds a value that is not a string of 1-${MAX_ID_LENGTH} characters`);
      parents.push({ type: t.groupType, id: g });
    }
  }
  const mfa = provesMfa(payload, t.mfaAcrValues);
  const tenant = claimAt(payload, t.tenantClaim);
  if (tenant === undefined) return { parents, tenant: undefined, mfa };
  if (!isId(tenant)) refuse(`${t.tenantClaim} claim is not a string of 1-${MAX_ID_LENGTH} characters`);
  const entity = { type: t.tenantType, id: tenant };
  parents.push(entity);
  return { parents, tenant: t.tenantType === 'Tenant' ? tenant : entityToString(entity), mfa };
}

/** RFC 8176: `amr` containing `mfa` (multiple factors), or an `acr` the issuer's config names as multi-factor. */
function provesMfa(payload: JWTPayload, acrValues: ReadonlySet<string>): boolean {
  const amr = payload.amr;
  if (Array.isArray(amr) && amr.includes('mfa')) return true;
  return typeof payload.acr === 'string' && acrValues.has(payload.acr);
}

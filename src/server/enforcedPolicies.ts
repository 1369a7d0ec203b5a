import { ApiKeyRepository, type ApiKeyVerifier } from '../store/index.js';
import { parsePolicySet, PolicyRepository, type PolicyVersion } from '../policy/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { scopePermitsUnderSchema, type KeyScopePermits } from './keyScopePolicies.js';

/** A policy set's text with the key-scope permits that join it, and what was left out and why. */
export interface EnforcedPolicies {
  text: string;
  keyScopes: KeyScopePermits;
}

/**
 * `policies` plus the generated permits of every active key (scopePermitsUnderSchema: under
 * `schema`, none taking an id `policyIds` holds). The one place the enforced text is put together,
 * so PEP snapshots and the admin tools (explain, analyze) decide from the same set.
 */
export function withKeyScopes(policies: string, schema: string | null, policyIds: ReadonlySet<string>, apiKeys: readonly ApiKeyVerifier[], now = Date.now()): EnforcedPolicies {
  const keyScopes = scopePermitsUnderSchema(apiKeys, schema, now, policyIds);
  return { text: [policies, keyScopes.text].filter(Boolean).join('\n'), keyScopes };
}

/** The published set's policy ids, per control plane: parsed once per published version, not per rebuild. */
const publishedIdsCache = new WeakMap<ControlPlaneContext, { version: number; ids: ReadonlySet<string> }>();

function idsOfPublished(ctx: ControlPlaneContext, published: PolicyVersion | null): ReadonlySet<string> {
  if (!published?.policies) return new Set();
  const cached = publishedIdsCache.get(ctx);
  if (cached?.version === published.version) return cached.ids;
  const ids = new Set(parsePolicySet(published.policies).map((p) => p.id));
  publishedIdsCache.set(ctx, { version: published.version, ids });
  return ids;
}

/**
 * What PEPs enforce, read from the store: the published version (none: key scopes alone) with the
 * key-scope permits of the keys read with it. A published policy holding a generated id (published
 * before such ids were refused) keeps it; the key's permit is left out rather than failing the set
 * on a duplicate id.
 */
export async function loadEnforcedPolicies(ctx: ControlPlaneContext): Promise<EnforcedPolicies & { published: PolicyVersion | null; apiKeys: ApiKeyVerifier[] }> {
  const apiKeys = await new ApiKeyRepository(ctx.db, ctx.serverSecret).listVerifiers();
  const published = await new PolicyRepository(ctx.db).current();
  const enforced = withKeyScopes(published?.policies ?? '', published?.schema ?? null, idsOfPublished(ctx, published), apiKeys);
  return { ...enforced, published, apiKeys };
}

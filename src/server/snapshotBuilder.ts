import { ApiKeyRepository } from '../store/index.js';
import { CachingAuthorizer, PolicyRepository, compilePolicySet } from '../policy/index.js';
import type { PepSnapshot } from '../gateway/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { keyScopePolicies } from './keyScopePolicies.js';

/** How long a PEP may keep using a snapshot without hearing from the control plane. */
export const SNAPSHOT_TTL_MS = 5 * 60_000;

/**
 * Reads the control plane's state into the in-memory form PEPs decide from: API key hashes
 * and the compiled Cedar policy set (published version + key-scope grants). Throws when the
 * policy set does not compile; the caller then keeps the previous snapshot (fail safe).
 */
export async function buildSnapshot(ctx: ControlPlaneContext, version: number): Promise<PepSnapshot> {
  const apiKeys = await new ApiKeyRepository(ctx.db, ctx.serverSecret).listVerifiers();
  const published = await new PolicyRepository(ctx.db).current();
  const policies = [published?.policies ?? '', keyScopePolicies(apiKeys)].filter(Boolean).join('\n');
  const compiled = compilePolicySet(policies, {
    schemaText: published?.schema ?? undefined,
    entities: published?.entities,
    version: `v${published?.version ?? 0}+s${version}`,
  });
  const now = Date.now();
  return {
    version,
    issuedAt: now,
    expiresAt: now + SNAPSHOT_TTL_MS,
    apiKeys: new Map(apiKeys.map((k) => [k.prefix, k])),
    authorizer: new CachingAuthorizer(compiled),
    policyVersion: published?.version ?? 0,
  };
}

import { ApiKeyRepository, type ApiKeyVerifier } from '../store/index.js';
import { ScopeAuthorizer, type Authorizer } from '../policy/index.js';
import type { PepSnapshot } from '../gateway/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';

export interface SnapshotParts {
  apiKeys: ApiKeyVerifier[];
  authorizer: Authorizer;
}

/** How long a PEP may keep using a snapshot without hearing from the control plane. */
export const SNAPSHOT_TTL_MS = 5 * 60_000;

/** Reads the control plane's state into the in-memory form PEPs decide from. */
export async function buildSnapshot(ctx: ControlPlaneContext, version: number): Promise<PepSnapshot> {
  const apiKeys = await new ApiKeyRepository(ctx.db, ctx.serverSecret).listVerifiers();
  const scopes = new Map<string, string[]>();
  for (const k of apiKeys) if (!k.revokedAt) scopes.set(k.principal, [...(scopes.get(k.principal) ?? []), ...k.scopes]);
  const now = Date.now();
  return {
    version,
    issuedAt: now,
    expiresAt: now + SNAPSHOT_TTL_MS,
    apiKeys: new Map(apiKeys.map((k) => [k.prefix, k])),
    authorizer: new ScopeAuthorizer(scopes),
  };
}

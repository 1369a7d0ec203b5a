import { BlockedPrincipalRepository, serverSecretCheck } from '../store/index.js';
import { buildAdmissionTable, admissionTableToJson } from '../artifacts/index.js';
import { apiKeysToWire, type SnapshotWire } from '../gateway/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { loadEnforcedPolicies } from './enforcedPolicies.js';

/** Problems already logged, per control plane: every rebuild (each change, every 100 s) meets them again. */
const reported = new WeakMap<ControlPlaneContext, Set<string>>();

function reportOnce(ctx: ControlPlaneContext, problem: string): boolean {
  let seen = reported.get(ctx);
  if (!seen) reported.set(ctx, (seen = new Set()));
  if (seen.has(problem)) return false;
  seen.add(problem);
  return true;
}

/** How long a PEP may keep using a snapshot without hearing from the control plane. */
export const SNAPSHOT_TTL_MS = 5 * 60_000;

/**
 * Reads the control plane's state into what PEPs decide from: API key hashes, the Cedar
 * policy set (published version + key-scope grants) and the blocked principals.
 */
export async function buildSnapshotWire(ctx: ControlPlaneContext, version: number): Promise<SnapshotWire> {
  const { text: policies, keyScopes: scopes, published, apiKeys } = await loadEnforcedPolicies(ctx);
  if (scopes.grantingNothing.size > 0) {
    ctx.logger.warn({ keys: [...scopes.grantingNothing.keys()], reason: scopes.grantingNothing.values().next().value }, 'API keys whose scopes do not match the published schema grant nothing');
  }
  for (const [keyId, reason] of scopes.unexpressible) {
    if (reportOnce(ctx, `${keyId}\n${reason}`)) ctx.logger.warn({ keyId, reason }, 'an API key scope cannot be expressed as a Cedar permit; the key is denied what it would grant');
  }
  const admission = admissionTableToJson(await buildAdmissionTable(ctx.db, ctx.config.artifacts.admission));
  const now = Date.now();
  const blocked = await new BlockedPrincipalRepository(ctx.db).active(new Date(now));
  return {
    version,
    issuedAt: now,
    expiresAt: now + SNAPSHOT_TTL_MS,
    apiKeys: apiKeysToWire(apiKeys),
    policy: { version: published?.version ?? 0, policies, schema: published?.schema ?? null, entities: published?.entities ?? [] },
    admission,
    blockedPrincipals: blocked.map((b) => ({ principal: b.principal, expiresAt: b.expiresAt?.toISOString() ?? null })),
    secretCheck: serverSecretCheck(ctx.serverSecret),
  };
}

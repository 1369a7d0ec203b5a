import { ApiKeyRepository, serverSecretCheck } from '../store/index.js';
import { parsePolicySet, PolicyRepository, type PolicyVersion } from '../policy/index.js';
import { buildAdmissionTable, admissionTableToJson } from '../artifacts/index.js';
import { apiKeysToWire, type SnapshotWire } from '../gateway/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { scopePermitsUnderSchema } from './keyScopePolicies.js';

/** Problems already logged, per control plane: every rebuild (each change, every 100 s) meets them again. */
const reported = new WeakMap<ControlPlaneContext, Set<string>>();

function reportOnce(ctx: ControlPlaneContext, problem: string): boolean {
  let seen = reported.get(ctx);
  if (!seen) reported.set(ctx, (seen = new Set()));
  if (seen.has(problem)) return false;
  seen.add(problem);
  return true;
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

/** How long a PEP may keep using a snapshot without hearing from the control plane. */
export const SNAPSHOT_TTL_MS = 5 * 60_000;

/**
 * Reads the control plane's state into what PEPs decide from: API key hashes and the Cedar
 * policy set (published version + key-scope grants).
 */
export async function buildSnapshotWire(ctx: ControlPlaneContext, version: number): Promise<SnapshotWire> {
  const apiKeys = await new ApiKeyRepository(ctx.db, ctx.serverSecret).listVerifiers();
  const published = await new PolicyRepository(ctx.db).current();
  // A published policy holding a generated id (published before such ids were refused) would make
  // the set fail on a duplicate id.
  const publishedIds = idsOfPublished(ctx, published);
  const scopes = scopePermitsUnderSchema(apiKeys, published?.schema ?? null, Date.now(), publishedIds);
  if (scopes.grantingNothing.size > 0) {
    ctx.logger.warn({ keys: [...scopes.grantingNothing.keys()], reason: scopes.grantingNothing.values().next().value }, 'API keys whose scopes do not match the published schema grant nothing');
  }
  for (const [keyId, reason] of scopes.unexpressible) {
    if (reportOnce(ctx, `${keyId}\n${reason}`)) ctx.logger.warn({ keyId, reason }, 'an API key scope cannot be expressed as a Cedar permit; the key is denied what it would grant');
  }
  const policies = [published?.policies ?? '', scopes.text].filter(Boolean).join('\n');
  const admission = admissionTableToJson(await buildAdmissionTable(ctx.db, ctx.config.artifacts.admission));
  const now = Date.now();
  return {
    version,
    issuedAt: now,
    expiresAt: now + SNAPSHOT_TTL_MS,
    apiKeys: apiKeysToWire(apiKeys),
    policy: { version: published?.version ?? 0, policies, schema: published?.schema ?? null, entities: published?.entities ?? [] },
    admission,
    secretCheck: serverSecretCheck(ctx.serverSecret),
  };
}

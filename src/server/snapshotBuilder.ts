import { ApiKeyRepository } from '../store/index.js';
import { PolicyRepository } from '../policy/index.js';
import { buildAdmissionTable, admissionTableToJson } from '../artifacts/index.js';
import { apiKeysToWire, type SnapshotWire } from '../gateway/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { scopePermitsUnderSchema } from './keyScopePolicies.js';

/** How long a PEP may keep using a snapshot without hearing from the control plane. */
export const SNAPSHOT_TTL_MS = 5 * 60_000;

/**
 * Reads the control plane's state into what PEPs decide from: API key hashes and the Cedar
 * policy set (published version + key-scope grants).
 */
export async function buildSnapshotWire(ctx: ControlPlaneContext, version: number): Promise<SnapshotWire> {
  const apiKeys = await new ApiKeyRepository(ctx.db, ctx.serverSecret).listVerifiers();
  const published = await new PolicyRepository(ctx.db).current();
  const scopes = scopePermitsUnderSchema(apiKeys, published?.schema ?? null);
  if (scopes.grantingNothing.size > 0) {
    ctx.logger.warn({ keys: [...scopes.grantingNothing.keys()], reason: scopes.grantingNothing.values().next().value }, 'API keys whose scopes do not match the published schema grant nothing');
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
  };
}

import { SnapshotHolder, snapshotFromWire } from '../../src/gateway/index.js';
import { hashApiKey } from '../../src/store/index.js';
import type { AdmissionTableJson } from '../../src/artifacts/index.js';

/**
 * A snapshot holder for an in-process gateway: one API key (`wdn_abcdefghijkl_…`, principal
 * ApiKey::"test") and a permit-all policy (or `policies`), so tests exercise what comes after authorization.
 */
export function permitAllSnapshots(serverSecret: Uint8Array, key: string, admission?: Omit<AdmissionTableJson, 'builtAt'>, policies = 'permit(principal, action, resource);'): SnapshotHolder {
  const holder = new SnapshotHolder();
  const now = new Date().toISOString();
  holder.update(
    snapshotFromWire({
      version: 1,
      issuedAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
      apiKeys: [{ id: 'key_test', prefix: key.split('_')[1]!, name: 'test', principal: 'ApiKey::"test"', scopes: [], hash: hashApiKey(serverSecret, key), createdAt: now, expiresAt: null, revokedAt: null, lastUsedAt: null }],
      policy: { version: 1, policies, schema: null, entities: [] },
      admission: { builtAt: now, enforceAll: false, enforced: [], models: {}, ...admission },
    }),
  );
  return holder;
}

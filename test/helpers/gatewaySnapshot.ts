import { SnapshotHolder, snapshotFromWire } from '../../src/gateway/index.js';
import { hashApiKey } from '../../src/store/index.js';
import type { AdmissionTableJson } from '../../src/artifacts/index.js';

/** A second principal's key (ApiKey::"test2") in every such snapshot, for what tells clients apart. */
export const SECOND_TEST_KEY = `wdn_mnopqrstuvwx_${'B'.repeat(43)}`;

/**
 * A snapshot holder for an in-process gateway: the API key `key` (principal ApiKey::"test"),
 * SECOND_TEST_KEY (ApiKey::"test2") and a permit-all policy (or `policies`), so tests exercise what comes after authorization.
 */
export function permitAllSnapshots(serverSecret: Uint8Array, key: string, admission?: Omit<AdmissionTableJson, 'builtAt'>, policies = 'permit(principal, action, resource);'): SnapshotHolder {
  const holder = new SnapshotHolder();
  const now = new Date().toISOString();
  holder.update(
    snapshotFromWire({
      version: 1,
      issuedAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
      apiKeys: [
        { id: 'key_test', prefix: key.split('_')[1]!, name: 'test', principal: 'ApiKey::"test"', scopes: [], hash: hashApiKey(serverSecret, key), createdAt: now, expiresAt: null, revokedAt: null, lastUsedAt: null },
        { id: 'key_test2', prefix: SECOND_TEST_KEY.split('_')[1]!, name: 'test2', principal: 'ApiKey::"test2"', scopes: [], hash: hashApiKey(serverSecret, SECOND_TEST_KEY), createdAt: now, expiresAt: null, revokedAt: null, lastUsedAt: null },
      ],
      policy: { version: 1, policies, schema: null, entities: [] },
      admission: { builtAt: now, enforceAll: false, enforced: [], models: {}, ...admission },
    }),
  );
  return holder;
}

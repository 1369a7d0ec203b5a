import type { ApiKeyVerifier } from '../store/index.js';
import { CachingAuthorizer, FailClosedAuthorizer, compilePolicySet, type CedarEntityJson } from '../policy/index.js';
import type { PepSnapshot } from './PepSnapshot.js';
import { admissionTableFromJson, type AdmissionTableJson } from '../artifacts/index.js';

/**
 * The PEP snapshot as the control plane sends it (JSON over the authenticated stream): API key
 * hashes (never keys) and the Cedar policy set the PEP compiles for itself.
 */
export interface SnapshotWire {
  version: number;
  issuedAt: number;
  expiresAt: number;
  apiKeys: (Omit<ApiKeyVerifier, 'createdAt' | 'expiresAt' | 'revokedAt' | 'lastUsedAt'> & { createdAt: string; expiresAt: string | null; revokedAt: string | null; lastUsedAt: string | null })[];
  policy: { version: number; policies: string; schema: string | null; entities: CedarEntityJson[] };
  /** Serving versions and digests of registered models (deployment admission). */
  admission: AdmissionTableJson;
  /**
   * Blocked principals (canonical Cedar entity strings) and when each block ends (null: until
   * unblocked). Absent from older control planes: none.
   */
  blockedPrincipals?: { principal: string; expiresAt: string | null }[];
  /**
   * The control plane's clock when this copy was sent (on the stream): the PEP keeps the snapshot
   * for `expiresAt - sentAt` from receipt, on its own clock, so skew neither shortens nor extends it.
   */
  sentAt?: number;
  /** serverSecretCheck of the control plane's secret (absent from older control planes). */
  secretCheck?: string;
}

export function apiKeysToWire(keys: readonly ApiKeyVerifier[]): SnapshotWire['apiKeys'] {
  return keys.map((k) => ({
    ...k,
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  }));
}

/** Compiles a wire snapshot into the in-memory form the pipeline reads. Throws if the policy set does not compile. */
export function snapshotFromWire(wire: SnapshotWire): PepSnapshot {
  const compiled = compilePolicySet(wire.policy.policies, {
    schemaText: wire.policy.schema ?? undefined,
    entities: wire.policy.entities,
    version: `v${wire.policy.version}+s${wire.version}`,
  });
  const apiKeys = new Map<string, ApiKeyVerifier>();
  for (const k of wire.apiKeys) {
    apiKeys.set(k.prefix, {
      ...k,
      createdAt: new Date(k.createdAt),
      expiresAt: k.expiresAt ? new Date(k.expiresAt) : null,
      revokedAt: k.revokedAt ? new Date(k.revokedAt) : null,
      lastUsedAt: k.lastUsedAt ? new Date(k.lastUsedAt) : null,
    });
  }
  const blockedPrincipals = new Map<string, number | null>();
  for (const b of wire.blockedPrincipals ?? []) blockedPrincipals.set(b.principal, b.expiresAt === null ? null : Date.parse(b.expiresAt));
  return {
    version: wire.version,
    issuedAt: wire.issuedAt,
    expiresAt: wire.expiresAt,
    apiKeys,
    authorizer: new CachingAuthorizer(new FailClosedAuthorizer(compiled)),
    policyVersion: wire.policy.version,
    admission: admissionTableFromJson(wire.admission),
    blockedPrincipals,
    secretCheck: typeof wire.secretCheck === 'string' ? wire.secretCheck : undefined,
  };
}

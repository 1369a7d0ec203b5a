import { z } from 'zod';

const severity = z.enum(['critical', 'high', 'medium', 'low', 'info']);

export const artifactsSection = z
  .strictObject({
    /** Files larger than this are hashed as parallel shards of this size (OpenSSF model-signing "shards" serialization). */
    shardSizeBytes: z.number().int().min(1024 * 1024).max(4 * 1024 * 1024 * 1024).default(128 * 1024 * 1024),
    /** Worker threads for shard hashing; 0 = one per available CPU. */
    hashWorkers: z.number().int().min(0).max(64).default(0),
    dataset: z
      .strictObject({
        /** Files with these extensions are Merkle-hashed per line (record); others per fixed-size chunk. */
        recordExtensions: z.array(z.string().regex(/^\.[A-Za-z0-9]+$/)).default(['.jsonl', '.ndjson', '.csv', '.tsv', '.txt']),
        chunkBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
        /** Most Merkle nodes kept per file in the manifest; beyond it poisoning is located to a block of rows. */
        maxStoredNodes: z.number().int().min(16).max(1 << 22).default(1 << 16),
      })
      .prefault({}),
    admission: z
      .strictObject({
        /** Refuse every model that is not registered (default false so the demo works before registration). */
        enforce: z.boolean().default(false),
        /** Models refused unless registered, even when `enforce` is false. */
        models: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    promotion: z
      .strictObject({
        requireSignature: z.boolean().default(true),
        requireScan: z.boolean().default(true),
        requireApproval: z.boolean().default(true),
        /** A scan finding at or above this severity blocks promotion. */
        failOn: severity.default('high'),
        /** Principals allowed to approve (deployModel) when no Cedar authorizer is wired in, e.g. User::"alice". */
        approvers: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    signing: z
      .strictObject({
        algorithm: z.enum(['ed25519', 'ecdsa-p256']).default('ed25519'),
      })
      .prefault({}),
    trust: z
      .strictObject({
        /** Extra PEM public keys whose signatures are trusted (the Warden artifact-signing key always is). */
        publicKeyFiles: z.array(z.string().min(1)).default([]),
        /** PEM CA certificates that issue workload X.509-SVIDs trusted for signing (default: <data-dir>/bundle.pem when present). */
        caFiles: z.array(z.string().min(1)).default([]),
        /** When non-empty, only SPIFFE IDs starting with one of these prefixes may sign. */
        allowedSpiffeIds: z.array(z.string().startsWith('spiffe://')).default([]),
        /** Signing key ids (SHA-256 of the SPKI, hex) no longer trusted; SVIDs are revoked through identity. */
        revokedKeyIds: z.array(z.string().regex(/^[0-9a-f]{64}$/)).default([]),
        /**
         * Warden signing key ids of other control plane replicas (each with its own data dir; their
         * public keys in publicKeyFiles): approvals and scans they signed count as this one's.
         */
        controlPlaneKeyIds: z.array(z.string().regex(/^[0-9a-f]{64}$/)).default([]),
        /**
         * Besides the Warden key, the signers whose scan reports count (key ids, hex): a key trusted to
         * sign manifests (publicKeyFiles) does not by that vouch that its own bytes scanned clean.
         */
        scannerKeyIds: z.array(z.string().regex(/^[0-9a-f]{64}$/)).default([]),
        /** Exact SPIFFE IDs of scanner workloads (X.509-SVID signers) whose scan reports count. */
        scannerSpiffeIds: z.array(z.string().startsWith('spiffe://')).default([]),
      })
      .prefault({}),
    encryption: z
      .strictObject({
        /** Refuse to store an artifact unencrypted. */
        required: z.boolean().default(false),
        chunkBytes: z.number().int().min(4096).max(16 * 1024 * 1024).default(1024 * 1024),
      })
      .prefault({}),
  })
  .prefault({});

export type ArtifactsConfig = z.infer<typeof artifactsSection>;

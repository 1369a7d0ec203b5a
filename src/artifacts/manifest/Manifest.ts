/**
 * A Warden manifest is an in-toto Statement v1 laid out like the OpenSSF model-signing v1.0
 * manifest: per-resource SHA-256 digests in `predicate.resources` with the serialization that
 * produced them, plus one in-toto subject per file (the "per-file subjects").
 * Warden-specific facts (artifact kind, dataset Merkle trees) live under `predicate.warden`.
 */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const MODEL_SIGNING_PREDICATE_V1 = 'https://model_signing/signature/v1.0';

export type ArtifactKind = 'model' | 'dataset';

export interface InTotoSubject {
  name: string;
  digest: Record<string, string>;
}

export interface InTotoStatement<P = unknown> {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: InTotoSubject[];
  predicateType: string;
  predicate: P;
}

export interface ManifestResource {
  /** "path" (files serialization) or "path:start:end" (shards serialization), POSIX separators. */
  name: string;
  algorithm: 'sha256';
  digest: string;
}

export interface DatasetMerkle {
  path: string;
  /** 'record': one leaf per line; 'chunk': one leaf per `chunkBytes` bytes. */
  unit: 'record' | 'chunk';
  chunkBytes?: number;
  leafCount: number;
  root: string;
  level: number;
  /** Base64 of the concatenated 32-byte level nodes. */
  nodes: string;
}

export interface ManifestPredicate {
  serialization: {
    method: 'files' | 'shards';
    hash_type: 'sha256';
    allow_symlinks: false;
    ignore_paths: string[];
    shard_size?: number;
  };
  resources: ManifestResource[];
  warden: {
    kind: ArtifactKind;
    /** SHA-256 over the concatenated resource digests in name order: the digest Warden pins and admits. */
    rootDigest: string;
    files: { path: string; size: number }[];
    datasets?: DatasetMerkle[];
  };
}

export type Manifest = InTotoStatement<ManifestPredicate>;

/** Per-file subject digest key for files hashed as several shards (their plain SHA-256 is never computed). */
export const SHARDED_DIGEST_KEY = 'sha256-shards';

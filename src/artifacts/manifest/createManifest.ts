import { extname } from 'node:path';
import { createHash } from 'node:crypto';
import { WardenError } from '../../errors/index.js';
import { listArtifactFiles, type ArtifactFile } from './listArtifactFiles.js';
import { ShardHasher, hashRange, type ShardTask } from './ShardHasher.js';
import { datasetMerkle } from './datasetMerkle.js';
import { mapLimit } from './mapLimit.js';
import {
  IN_TOTO_STATEMENT_V1,
  MODEL_SIGNING_PREDICATE_V1,
  SHARDED_DIGEST_KEY,
  type ArtifactKind,
  type DatasetMerkle,
  type Manifest,
  type ManifestResource,
} from './Manifest.js';

export interface CreateManifestOptions {
  kind: ArtifactKind;
  shardSizeBytes?: number;
  /** Worker threads (0/undefined = available CPUs). */
  workers?: number;
  ignorePaths?: string[];
  dataset?: { recordExtensions?: readonly string[]; chunkBytes?: number; maxStoredNodes?: number };
  /** Reuse a pool across calls (bench, server); otherwise one is created and closed. */
  hasher?: ShardHasher;
}

export const DEFAULT_SHARD_SIZE = 128 * 1024 * 1024;
const DEFAULT_RECORD_EXTENSIONS = ['.jsonl', '.ndjson', '.csv', '.tsv', '.txt'];
/** Below this total size a worker pool costs more to start than it saves. */
const INLINE_LIMIT_BYTES = 8 * 1024 * 1024;

export function shardsOf(file: ArtifactFile, shardSize: number): ShardTask[] {
  if (file.size <= shardSize) return [{ path: file.absolutePath, start: 0, end: file.size }];
  const out: ShardTask[] = [];
  for (let start = 0; start < file.size; start += shardSize) {
    out.push({ path: file.absolutePath, start, end: Math.min(file.size, start + shardSize) });
  }
  return out;
}

/** model-signing v1.0: the model digest is SHA-256 over the resource digests, sorted by resource name. */
export function rootDigestOf(resources: readonly ManifestResource[]): string {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const h = createHash('sha256');
  for (const r of sorted) h.update(Buffer.from(r.digest, 'hex'));
  return h.digest('hex');
}

export function shardedFileDigest(shardDigests: readonly string[]): string {
  const h = createHash('sha256');
  for (const d of shardDigests) h.update(Buffer.from(d, 'hex'));
  return h.digest('hex');
}

/** Hashes every file (large ones as parallel shards) and returns the file's shard digests in order. */
export async function hashFiles(files: readonly ArtifactFile[], shardSize: number, options: { workers?: number; hasher?: ShardHasher }): Promise<string[][]> {
  const total = files.reduce((s, f) => s + f.size, 0);
  const ownPool = !options.hasher && total > INLINE_LIMIT_BYTES;
  const pool = options.hasher ?? (ownPool ? new ShardHasher(options.workers || undefined) : undefined);
  try {
    // The pool queues shards itself; inline hashing and file opens are bounded.
    return await mapLimit(files, pool ? 64 : 8, (f) => Promise.all(shardsOf(f, shardSize).map((t) => (pool ? pool.hash(t) : hashRange(t)))));
  } finally {
    if (ownPool) await pool!.close();
  }
}

/** Hashes a model or dataset (file or directory) into a signed-ready manifest. */
export async function createManifest(path: string, options: CreateManifestOptions): Promise<Manifest> {
  const shardSize = options.shardSizeBytes ?? DEFAULT_SHARD_SIZE;
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new WardenError('WARDEN_INPUT_INVALID', 'shard size must be a positive integer');
  const ignorePaths = options.ignorePaths ?? [];
  const files = await listArtifactFiles(path, ignorePaths);
  if (files.length === 0) throw new WardenError('WARDEN_ARTIFACT_PATH_INVALID', `${path} contains no files`);

  const total = files.reduce((sum, f) => sum + f.size, 0);
  const ownPool = !options.hasher && total > INLINE_LIMIT_BYTES;
  const pool = options.hasher ?? (ownPool ? new ShardHasher(options.workers || undefined) : undefined);
  let digests: string[][];
  let datasets: DatasetMerkle[] | undefined;
  try {
    const datasetsPromise = options.kind === 'dataset' ? mapLimit(files, 4, (f) => datasetEntry(f, options.dataset ?? {}, pool)) : Promise.resolve(undefined);
    datasetsPromise.catch(() => undefined);
    digests = await hashFiles(files, shardSize, { ...(pool ? { hasher: pool } : {}) });
    datasets = await datasetsPromise;
  } finally {
    if (ownPool) await pool!.close();
  }
  const sharded = files.some((f) => f.size > shardSize);

  const resources: ManifestResource[] = [];
  const subject = files.map((f, i) => {
    const shardDigests = digests[i]!;
    if (sharded) {
      shardsOf(f, shardSize).forEach((t, j) => resources.push({ name: `${f.path}:${t.start}:${t.end}`, algorithm: 'sha256', digest: shardDigests[j]! }));
    } else {
      resources.push({ name: f.path, algorithm: 'sha256', digest: shardDigests[0]! });
    }
    const digest: Record<string, string> = shardDigests.length === 1 ? { sha256: shardDigests[0]! } : { [SHARDED_DIGEST_KEY]: shardedFileDigest(shardDigests) };
    return { name: f.path, digest };
  });
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject,
    predicateType: MODEL_SIGNING_PREDICATE_V1,
    predicate: {
      serialization: {
        method: sharded ? 'shards' : 'files',
        hash_type: 'sha256',
        allow_symlinks: false,
        ignore_paths: ignorePaths,
        ...(sharded ? { shard_size: shardSize } : {}),
      },
      resources,
      warden: {
        kind: options.kind,
        rootDigest: rootDigestOf(resources),
        files: files.map((f) => ({ path: f.path, size: f.size })),
        ...(datasets ? { datasets } : {}),
      },
    },
  };
}

export function merkleUnitFor(path: string, recordExtensions: readonly string[]): 'record' | 'chunk' {
  return recordExtensions.includes(extname(path).toLowerCase()) ? 'record' : 'chunk';
}

async function datasetEntry(file: ArtifactFile, opts: NonNullable<CreateManifestOptions['dataset']>, pool: ShardHasher | undefined): Promise<DatasetMerkle> {
  const unit = merkleUnitFor(file.path, opts.recordExtensions ?? DEFAULT_RECORD_EXTENSIONS);
  const chunkBytes = opts.chunkBytes ?? 1024 * 1024;
  const m = await datasetMerkle(file.absolutePath, { unit, chunkBytes, maxNodes: opts.maxStoredNodes ?? 1 << 16, ...(pool ? { pool } : {}) });
  return {
    path: file.path,
    unit,
    ...(unit === 'chunk' ? { chunkBytes } : {}),
    leafCount: m.leafCount,
    root: m.root.toString('hex'),
    level: m.level,
    nodes: Buffer.concat(m.nodes).toString('base64'),
  };
}

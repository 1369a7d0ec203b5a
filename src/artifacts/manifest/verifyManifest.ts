import { listArtifactFiles, type ArtifactFile } from './listArtifactFiles.js';
import { hashFiles } from './createManifest.js';
import { datasetMerkle, nodeSpan } from './datasetMerkle.js';
import { parseManifest } from './parseManifest.js';
import type { ShardHasher } from './ShardHasher.js';
import type { DatasetMerkle, Manifest } from './Manifest.js';

export interface RecordLocation {
  /** 'record': 1-based line numbers; 'chunk': byte offsets [first, last]. */
  unit: 'record' | 'chunk';
  first: number;
  last: number;
}

export interface FileVerification {
  path: string;
  status: 'ok' | 'modified' | 'missing' | 'added';
  /** For modified dataset files: where the Merkle tree differs. */
  locations?: RecordLocation[];
  leafCount?: { expected: number; actual: number };
}

export interface ManifestVerification {
  ok: boolean;
  rootDigest: string;
  files: FileVerification[];
}

/**
 * Re-hashes an artifact and compares it with its manifest; names every modified, missing or
 * added file and, for datasets, the records (lines) or chunks that changed.
 */
export async function verifyManifest(path: string, manifestInput: unknown, options: { workers?: number; hasher?: ShardHasher } = {}): Promise<ManifestVerification> {
  const manifest: Manifest = parseManifest(manifestInput);
  const p = manifest.predicate;
  const actualFiles = await listArtifactFiles(path, p.serialization.ignore_paths);
  const expectedByPath = new Map(p.warden.files.map((f) => [f.path, f]));
  const actualByPath = new Map(actualFiles.map((f) => [f.path, f]));
  const results: FileVerification[] = [];

  const present: ArtifactFile[] = [];
  for (const f of p.warden.files) {
    const actual = actualByPath.get(f.path);
    if (!actual) results.push({ path: f.path, status: 'missing' });
    else present.push(actual);
  }
  for (const f of actualFiles) if (!expectedByPath.has(f.path)) results.push({ path: f.path, status: 'added' });

  const shardSize = p.serialization.method === 'shards' ? p.serialization.shard_size! : Number.MAX_SAFE_INTEGER;
  const expectedDigests = new Map(p.resources.map((r) => [r.name, r.digest]));
  // Same-size files are re-hashed with the manifest's own shard layout; a size change is already a modification.
  const sameSize = present.filter((f) => expectedByPath.get(f.path)!.size === f.size);
  const digests = await hashFiles(sameSize, shardSize, options);
  const modified = new Set(present.filter((f) => expectedByPath.get(f.path)!.size !== f.size).map((f) => f.path));
  sameSize.forEach((f, i) => {
    const got = digests[i]!;
    const names = p.serialization.method === 'shards' ? shardNames(f, shardSize) : [f.path];
    if (names.length !== got.length || names.some((n, j) => expectedDigests.get(n) !== got[j])) modified.add(f.path);
  });

  const datasetByPath = new Map((p.warden.datasets ?? []).map((d) => [d.path, d]));
  for (const f of present) {
    if (!modified.has(f.path)) {
      results.push({ path: f.path, status: 'ok' });
      continue;
    }
    const d = datasetByPath.get(f.path);
    results.push(d ? { path: f.path, status: 'modified', ...(await locateChanges(f.absolutePath, d, options.hasher)) } : { path: f.path, status: 'modified' });
  }
  results.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ok: results.every((r) => r.status === 'ok'), rootDigest: p.warden.rootDigest, files: results };
}

function shardNames(f: ArtifactFile, shardSize: number): string[] {
  const out: string[] = [];
  if (f.size === 0) return [`${f.path}:0:0`];
  for (let s = 0; s < f.size; s += shardSize) out.push(`${f.path}:${s}:${Math.min(f.size, s + shardSize)}`);
  return out;
}

/** Recomputes the dataset tree at the stored node level and reports the differing nodes as line / byte ranges. */
export async function locateChanges(absolutePath: string, d: DatasetMerkle, pool?: ShardHasher): Promise<Pick<FileVerification, 'locations' | 'leafCount'>> {
  const actual = await datasetMerkle(absolutePath, { unit: d.unit, chunkBytes: d.chunkBytes ?? 1024 * 1024, level: d.level, ...(pool ? { pool } : {}) });
  const stored = Buffer.from(d.nodes, 'base64');
  const locations: RecordLocation[] = [];
  const count = Math.max(actual.nodes.length, stored.length / 32);
  for (let i = 0; i < count; i++) {
    const a = actual.nodes[i];
    const s = i * 32 + 32 <= stored.length ? stored.subarray(i * 32, i * 32 + 32) : undefined;
    if (a && s && a.equals(s)) continue;
    const span = nodeSpan(i, d.level, Math.max(actual.leafCount, d.leafCount));
    const scale = d.unit === 'record' ? 1 : (d.chunkBytes ?? 1024 * 1024);
    const base = d.unit === 'record' ? 1 : 0;
    const last = d.unit === 'record' ? span.lastLeaf + 1 : (span.lastLeaf + 1) * scale - 1;
    const prev = locations[locations.length - 1];
    const first = span.firstLeaf * scale + base;
    if (prev && prev.last + 1 >= first) prev.last = last;
    else locations.push({ unit: d.unit, first, last });
  }
  return { locations, ...(actual.leafCount !== d.leafCount ? { leafCount: { expected: d.leafCount, actual: actual.leafCount } } : {}) };
}

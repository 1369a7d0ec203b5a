import { WardenError } from '../../errors/index.js';
import { shardedFileDigest } from './createManifest.js';
import { SHARDED_DIGEST_KEY, type Manifest } from './Manifest.js';

/** One file of a manifest as its resources (the signed, root-bound part) describe it. */
export interface ManifestFileDigests {
  path: string;
  size: number;
  /** Resource digests in offset order: one for a whole file, several for a sharded one. */
  shardDigests: string[];
  /** The file's subject digest: `{ sha256 }` for one resource, `{ 'sha256-shards' }` for several. */
  digest: Record<string, string>;
  /** Shard size of the "shards" serialization (undefined for "files"). */
  shardSize: number | undefined;
}

function invalid(message: string): WardenError {
  return new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', `manifest ${message}`);
}

/**
 * The files of a manifest read from its resources, after checking that `subject`,
 * `warden.files` and `resources` describe exactly the same paths and digests. Only the resources
 * are bound to the pinned root digest, so any other list that could disagree with them (and be
 * trusted by a scan-coverage or verify step) is refused here.
 */
export function manifestFileDigests(m: Manifest): ManifestFileDigests[] {
  const p = m.predicate;
  const shardSize = p.serialization.method === 'shards' ? p.serialization.shard_size : undefined;
  const resources = new Map<string, string>();
  for (const r of p.resources) {
    if (resources.has(r.name)) throw invalid(`lists resource ${r.name} twice`);
    resources.set(r.name, r.digest);
  }
  const subjects = new Map<string, Record<string, string>>();
  for (const s of m.subject) {
    if (subjects.has(s.name)) throw invalid(`lists subject ${s.name} twice`);
    subjects.set(s.name, s.digest);
  }
  if (subjects.size !== p.warden.files.length) throw invalid('subject and warden.files list different files');

  const out: ManifestFileDigests[] = [];
  const seen = new Set<string>();
  let used = 0;
  for (const f of p.warden.files) {
    if (seen.has(f.path)) throw invalid(`lists file ${f.path} twice`);
    seen.add(f.path);
    const count = shardSize === undefined ? 1 : Math.max(1, Math.ceil(f.size / shardSize));
    // Bounded by the resource count before any name is built: a huge size cannot make us loop.
    if (used + count > resources.size) throw invalid(`resources do not cover ${f.path}`);
    const names = shardSize === undefined ? [f.path] : shardNames(f.path, f.size, shardSize);
    const shardDigests = names.map((n) => {
      const d = resources.get(n);
      if (d === undefined) throw invalid(`has no resource ${n} for file ${f.path}`);
      return d;
    });
    used += names.length;
    const digest: Record<string, string> = shardDigests.length === 1 ? { sha256: shardDigests[0]! } : { [SHARDED_DIGEST_KEY]: shardedFileDigest(shardDigests) };
    const subject = subjects.get(f.path);
    if (!subject) throw invalid(`has no subject for file ${f.path}`);
    const keys = Object.keys(subject);
    if (keys.length !== 1 || Object.keys(digest).some((k) => subject[k] !== digest[k])) throw invalid(`subject ${f.path} does not have the digest of its resources`);
    out.push({ path: f.path, size: f.size, shardDigests, digest, shardSize });
  }
  if (used !== resources.size) throw invalid('has resources of no listed file');
  return out;
}

/** Resource names of a file in the "shards" serialization (the layout `createManifest` writes). */
export function shardNames(path: string, size: number, shardSize: number): string[] {
  if (size <= shardSize) return [`${path}:0:${size}`];
  const out: string[] = [];
  for (let start = 0; start < size; start += shardSize) out.push(`${path}:${start}:${Math.min(size, start + shardSize)}`);
  return out;
}

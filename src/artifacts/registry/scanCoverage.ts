import { WardenError } from '../../errors/index.js';
import { manifestFileDigests, SHARDED_DIGEST_KEY, type Manifest } from '../manifest/index.js';
import type { ScanPredicate } from '../attestation/index.js';

type ScannedFile = ScanPredicate['files'][number];

/**
 * Whether a scanned file's digest is the manifest's digest of that file: the whole-file SHA-256
 * for a file pinned as one resource, the `sha256-shards` at the manifest's shard size for a
 * sharded one. A missing digest on the scan side never matches: a name alone is not the bytes.
 */
function sameBytes(scanned: ScannedFile, digest: Record<string, string>, shardSize: number | undefined): boolean {
  if (digest.sha256 !== undefined) return typeof scanned.sha256 === 'string' && scanned.sha256 === digest.sha256;
  const shards = scanned.sha256Shards;
  return shardSize !== undefined && typeof shards === 'object' && shards !== null && shards.shardSize === shardSize && shards.digest === digest[SHARDED_DIGEST_KEY];
}

/**
 * A scan counts only if it covered every file of the version: for each file (from the manifest's
 * resources, the part bound to the pinned root digest) the scan must have an entry with that path
 * (or ending in `/path`) and the same digest in the manifest's layout.
 */
export function checkScanCoverage(id: string, manifest: Manifest, files: ScanPredicate['files']): void {
  for (const f of manifestFileDigests(manifest)) {
    const named = files.filter((x) => typeof x.path === 'string' && (x.path === f.path || x.path.endsWith(`/${f.path}`)));
    if (named.length === 0) throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `the scan of ${id} does not cover ${f.path}`);
    const scanned = named.find((x) => sameBytes(x, f.digest, f.shardSize));
    if (!scanned) {
      const what = f.digest.sha256 !== undefined ? 'a SHA-256' : `sha256Shards at shard size ${f.shardSize}`;
      throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `the scan of ${id} has no ${what} matching ${f.path} (other bytes, or no digest)`);
    }
    if (!Array.isArray(scanned.findings)) throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `the scan of ${id} has no findings list for ${f.path}`);
  }
}

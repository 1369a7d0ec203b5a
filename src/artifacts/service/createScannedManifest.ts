import { WardenError } from '../../errors/index.js';
import { createManifest, type CreateManifestOptions, type Manifest } from '../manifest/index.js';
import { checkScanCoverage } from '../registry/index.js';
import type { ScanReportLike } from '../attestation/index.js';

/** The scanner (src/scan `scanPaths`), passed in so artifacts does not depend on scan. */
export type ArtifactScanner = (paths: string[], options: { shardSizeBytes?: number }) => Promise<ScanReportLike>;

/**
 * Hashes an artifact, scans it, and checks that the scan saw the hashed bytes (digests in the
 * manifest's own layout). Hashing and scanning read the files separately, so a file rewritten in
 * between would otherwise sign one content and a scan of another.
 */
export async function createScannedManifest(path: string, options: CreateManifestOptions, scan: ArtifactScanner, id: string): Promise<{ manifest: Manifest; report: ScanReportLike }> {
  const manifest = await createManifest(path, options);
  const s = manifest.predicate.serialization;
  const report = await scan([path], s.method === 'shards' ? { shardSizeBytes: s.shard_size! } : {});
  try {
    checkScanCoverage(id, manifest, report.files);
  } catch (cause) {
    throw new WardenError('WARDEN_ARTIFACT_DIGEST_MISMATCH', `${path} changed between hashing and scanning; nothing was registered, run again`, { cause });
  }
  return { manifest, report };
}

import { WardenError } from '../../errors/index.js';
import { manifestFileDigests, type Manifest } from '../manifest/index.js';
import type { ScanPredicate } from '../attestation/index.js';

/**
 * A scan counts only if it covered every file of the version: each manifest path must be the
 * (suffix of a) scanned path, and where both sides have a whole-file SHA-256 they must agree.
 * The files come from the manifest's resources, the part bound to the pinned root digest.
 */
export function checkScanCoverage(id: string, manifest: Manifest, files: ScanPredicate['files']): void {
  for (const f of manifestFileDigests(manifest)) {
    const sha256 = f.digest.sha256;
    const scanned = files.find((x) => typeof x.path === 'string' && (x.path === f.path || x.path.endsWith(`/${f.path}`)));
    if (!scanned) throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `the scan of ${id} does not cover ${f.path}`);
    if (sha256 && scanned.sha256 && scanned.sha256 !== sha256) {
      throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `the scan of ${id} saw other bytes for ${f.path}`);
    }
    if (!Array.isArray(scanned.findings)) throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `the scan of ${id} has no findings list for ${f.path}`);
  }
}

import type { ScanReport } from '../types.js';

/** in-toto predicate type for a Warden model scan (artifacts attach it to a model version). */
export const SCAN_PREDICATE_TYPE = 'https://warden.dev/attestations/model-scan/v1';

export interface ScanPredicate {
  scanner: { name: 'warden-scan'; version: string };
  scannedAt: string;
  files: ScanReport['files'];
  summary: ScanReport['summary'];
}

/** The report as an in-toto predicate; subjects are the scanned files' SHA-256 digests. */
export function toAttestationPredicate(report: ScanReport, now: Date = new Date(), version = '0.1.0'): {
  predicateType: string;
  subjects: { name: string; digest: { sha256: string } }[];
  predicate: ScanPredicate;
} {
  return {
    predicateType: SCAN_PREDICATE_TYPE,
    subjects: report.files.filter((f) => f.sha256).map((f) => ({ name: f.path, digest: { sha256: f.sha256! } })),
    predicate: { scanner: { name: 'warden-scan', version }, scannedAt: now.toISOString(), files: report.files, summary: report.summary },
  };
}

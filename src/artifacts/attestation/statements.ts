import { IN_TOTO_STATEMENT_V1, type InTotoStatement, type InTotoSubject } from '../manifest/index.js';

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** Same predicate type and shape as the scanner's own `toAttestationPredicate` (src/scan). */
export const WARDEN_SCAN_PREDICATE = 'https://warden.dev/attestations/model-scan/v1';
export const WARDEN_APPROVAL_PREDICATE = 'https://warden.dev/attestations/approval/v1';
export const WARDEN_TRAINING_BUILD_TYPE = 'https://warden.dev/training/v1';

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest: Record<string, string>;
}

/** SLSA Provenance v1 predicate (https://slsa.dev/spec/v1.0/provenance). */
export interface SlsaProvenancePredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters?: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version?: Record<string, string> };
    metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string };
  };
}

export interface TrainingRun {
  /** The training job's SPIFFE ID (the SLSA builder). */
  builderId: string;
  runId: string;
  datasets: { name: string; version?: string; digest: string }[];
  code: { uri?: string; digest: Record<string, string> };
  parameters: Record<string, unknown>;
  startedOn?: string;
  finishedOn?: string;
}

/** Provenance of a training run: which datasets and code produced the model, with which parameters, on which builder. */
export function trainingProvenance(subject: InTotoSubject[], run: TrainingRun): InTotoStatement<SlsaProvenancePredicate> {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: WARDEN_TRAINING_BUILD_TYPE,
        externalParameters: { parameters: run.parameters },
        resolvedDependencies: [
          ...run.datasets.map((d) => ({ name: `dataset:${d.name}${d.version ? `@${d.version}` : ''}`, digest: { sha256: d.digest } })),
          { name: 'code', ...(run.code.uri ? { uri: run.code.uri } : {}), digest: run.code.digest },
        ],
      },
      runDetails: {
        builder: { id: run.builderId },
        metadata: { invocationId: run.runId, ...(run.startedOn ? { startedOn: run.startedOn } : {}), ...(run.finishedOn ? { finishedOn: run.finishedOn } : {}) },
      },
    },
  };
}

export interface ScanFinding {
  rule: string;
  severity: 'critical' | 'high' | 'medium' | 'low' | 'info';
  message: string;
  location?: unknown;
}

/** The scanner's JSON report shape (DESIGN.md `warden scan --format json`). */
export interface ScanReportLike {
  /** `sha256Shards`: the scanner's digest in a manifest's shards layout (`warden scan --shard-size`). */
  files: { path: string; format?: string; sha256?: string | null; sha256Shards?: { shardSize: number; digest: string }; findings: ScanFinding[] }[];
  summary?: Record<string, unknown>;
}

export interface ScanPredicate {
  scanner: { name: string; version?: string };
  scannedAt: string;
  files: ScanReportLike['files'];
  summary?: ScanReportLike['summary'];
}

/** A scan report bound to a version: the version subject first, then one subject per scanned file with a digest. */
export function scanStatement(subject: InTotoSubject[], report: ScanReportLike, scannedAt = new Date().toISOString()): InTotoStatement<ScanPredicate> {
  const fileSubjects = report.files.filter((f) => typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256)).map((f) => ({ name: f.path, digest: { sha256: f.sha256! } }));
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [...subject, ...fileSubjects],
    predicateType: WARDEN_SCAN_PREDICATE,
    predicate: { scanner: { name: 'warden-scan' }, scannedAt, files: report.files, ...(report.summary ? { summary: report.summary } : {}) },
  };
}

export interface ApprovalPredicate {
  approver: string;
  stage: 'approved';
  approvedAt: string;
  /** Policy ids that allowed deployModel for the approver. */
  policies: string[];
  comment?: string;
}

export function approvalStatement(subject: InTotoSubject[], approval: ApprovalPredicate): InTotoStatement<ApprovalPredicate> {
  return { _type: IN_TOTO_STATEMENT_V1, subject, predicateType: WARDEN_APPROVAL_PREDICATE, predicate: approval };
}

/** The subject that binds an attestation to a registered version: its name and pinned root digest. */
export function versionSubject(name: string, version: string, rootDigest: string): InTotoSubject[] {
  return [{ name: `${name}@${version}`, digest: { sha256: rootDigest } }];
}

const SEVERITY_RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 } as const;

export function findingsAtOrAbove(report: Pick<ScanReportLike, 'files'>, threshold: ScanFinding['severity']): ScanFinding[] {
  return report.files.flatMap((f) => f.findings).filter((x) => (SEVERITY_RANK[x.severity] ?? 4) >= SEVERITY_RANK[threshold]);
}

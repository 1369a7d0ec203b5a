// Response shapes of the admin API routes the console reads (src/server/routes/*.ts).

export interface AuditRecord {
  ts: string;
  kind: 'decision' | 'admin' | 'event';
  requestId?: string;
  principal?: string;
  action: string;
  resource?: string;
  decision?: 'allow' | 'deny';
  code?: string;
  policies?: string[];
  policyErrors?: string[];
  model?: string;
  status?: number;
  latencyMs?: number;
  overheadMs?: number;
  detectors?: Record<string, unknown>;
  details?: Record<string, unknown>;
}
export interface AuditEntry {
  index: number;
  leafHash: string;
  record: AuditRecord;
}
export interface CheckpointView {
  origin: string;
  size: number;
  rootHash: string;
  note: string;
}
export interface AuditVerifyReport {
  ok: boolean;
  size: number;
  rootHash: string;
  checkpoint: CheckpointView | null;
  errors: { index?: number; message: string }[];
  uncheckpointed?: number;
}
export interface InclusionProof {
  index: number;
  size: number;
  leafHash: string;
  rootHash: string;
  proof: string[];
  checkpoint: CheckpointView;
  record?: AuditRecord;
}
export interface PepInfo {
  name: string;
  snapshotVersion: number;
  policyVersion: number;
  connectedAt: string;
  lastSeenAt: string;
}
export interface Status {
  version: string;
  store: string;
  snapshotVersion: number | null;
  auditQueueDepth: number;
  peps: PepInfo[];
  uptimeSeconds: number;
  gateway?: { url: string; inFlight: number } | null;
}
export interface ApiKey {
  id: string;
  prefix: string;
  name: string;
  principal: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}
export interface RegistrationEntry {
  id: string;
  spiffeId: string;
  selectors: string[];
  ttlSeconds: number | null;
  createdAt: string;
}
export interface Svid {
  serial: string;
  spiffeId: string;
  kind: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  revoked: boolean;
}
export interface PolicySet {
  version: number;
  digest: string;
  author: string;
  comment: string | null;
  createdAt: string;
  policyCount: number;
  policyIds: string[];
  policies: string;
}
export interface Explanation {
  decision: 'allow' | 'deny';
  reason: 'permitted' | 'forbidden' | 'no-permit-applies';
  determining: { id: string; effect: 'permit' | 'forbid'; text: string }[];
  errors: { policyId: string; message: string }[];
  policyVersion: string;
  request: { principal: string; action: string; resource: string };
}
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
export interface AnalysisReport {
  version: string;
  policies: number;
  findings: { rule: string; severity: Severity; policyId?: string; message: string }[];
  usage?: Record<string, number>;
}
export type Stage = 'candidate' | 'approved' | 'serving' | 'retired';
export interface ArtifactSummary {
  name: string;
  kind: 'model' | 'dataset';
  versions: number;
  serving: string | null;
  latest: string | null;
}
export interface Attestation {
  id: string;
  predicateType: string;
  signer: { keyId: string; spiffeId: string | null; serial: string | null };
  createdAt: string;
}
export interface ArtifactVersion {
  id: string;
  name: string;
  kind: 'model' | 'dataset';
  version: string;
  digest: string;
  stage: Stage;
  revoked: boolean;
  revokedReason: string | null;
  createdAt: string;
  attestations: Attestation[];
}
export type LineageKind = 'dataset' | 'run' | 'model' | 'deployment';
export interface LineageNode {
  key: string;
  kind: LineageKind;
  name: string;
  attrs: Record<string, unknown>;
}
export interface LineageEdge {
  src: string;
  dst: string;
  relation: string;
}
export interface BlastRadius {
  dataset: string;
  runs: LineageNode[];
  datasets: LineageNode[];
  models: (LineageNode & { version: string; stage: Stage | null; revoked: boolean })[];
  deployments: (LineageNode & { servingVersion: string | null; servingAffected: boolean })[];
}
export interface Incident {
  id: string;
  title: string;
  severity: 'critical' | 'high' | 'medium' | 'low';
  state: string;
  rule: string | null;
  subject: string | null;
  target: Record<string, string>;
  openedBy: string;
  openedAt: string;
  updatedAt: string;
  drill: boolean;
}
export interface TimelineEvent {
  seq: number;
  at: string;
  kind: 'state' | 'alert' | 'action' | 'plan' | 'note' | 'evidence';
  actor: string;
  summary: string;
  details: Record<string, unknown>;
}

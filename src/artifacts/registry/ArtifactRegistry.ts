import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../../store/index.js';
import { WardenError } from '../../errors/index.js';
import { canonicalJson } from '../../audit/index.js';
import { buildRequestContext, type Authorizer } from '../../policy/index.js';
import { parseManifest, MODEL_SIGNING_PREDICATE_V1, type ArtifactKind, type Manifest } from '../manifest/index.js';
import {
  signStatement,
  approvalStatement,
  versionSubject,
  findingsAtOrAbove,
  SLSA_PROVENANCE_V1,
  WARDEN_SCAN_PREDICATE,
  WARDEN_APPROVAL_PREDICATE,
  type AttestationVerifying,
  type ArtifactSigner,
  type ApprovalPredicate,
  type ScanPredicate,
  type SlsaProvenancePredicate,
  type VerifiedAttestation,
  type ScanFinding,
} from '../attestation/index.js';
import { LineageGraph, lineageKey, type LineageNode } from '../lineage/index.js';
import { checkName, checkVersion, parseEntity, parseRef } from './refs.js';
import { checkScanCoverage } from './scanCoverage.js';

export type Stage = 'candidate' | 'approved' | 'serving' | 'retired';

export interface VersionRecord {
  id: string;
  name: string;
  kind: ArtifactKind;
  version: string;
  digest: string;
  stage: Stage;
  revoked: boolean;
  revokedReason: string | null;
  createdAt: string;
}

export interface AttestationRecord {
  id: string;
  predicateType: string;
  signer: { keyId: string; spiffeId: string | null; serial: string | null };
  createdAt: string;
}

export interface PromotionPolicy {
  requireSignature: boolean;
  requireScan: boolean;
  requireApproval: boolean;
  failOn: ScanFinding['severity'];
}

/** Where an approval decision is made (the admin API request): goes into the Cedar RequestContext. */
export interface ApprovalContext {
  sourceIp?: string;
  mfa?: boolean;
  region?: string;
}

export interface ArtifactRegistryDeps {
  /** Verifies attestations against the current trust policy and revocation list. */
  verifier: AttestationVerifying;
  /** deployModel decisions for approvers (Cedar engine, or ApproverListAuthorizer). */
  authorizer: Authorizer;
  /**
   * The Warden signing key: the control plane signs approval attestations with it, and only
   * approvals signed with it count (a trusted partner key must not be able to approve).
   */
  signer: ArtifactSigner;
  promotion: PromotionPolicy;
  /**
   * Who may sign scan reports besides the Warden key (`artifacts.trust.scannerKeyIds` /
   * `scannerSpiffeIds`): being trusted to sign a manifest is not being trusted to vouch it is clean.
   */
  scanners?: ScannerIdentities;
  /**
   * Key ids of the Warden signing keys of other control plane replicas (`artifacts.trust.controlPlaneKeyIds`):
   * approvals and scans they signed count as this control plane's own.
   */
  controlPlaneKeyIds?: readonly string[];
  /**
   * Which of these dataset references (`NAME` or `NAME@VERSION`) are frozen, e.g. by incident
   * response; a model may not be registered from, or promoted while derived from, a frozen dataset.
   */
  frozenDatasets?: FrozenDatasetCheck;
}

export interface ScannerIdentities {
  /** Signing key ids (SHA-256 of the SPKI, hex). */
  keyIds?: readonly string[];
  /** Exact SPIFFE IDs of X.509-SVID signers. */
  spiffeIds?: readonly string[];
}

/** Returns the refs (as given) that are frozen; a version is frozen when it or its dataset name is. */
export type FrozenDatasetCheck = (refs: readonly { name: string; version?: string | undefined }[]) => Promise<string[]>;

export interface RegisterInput {
  kind: ArtifactKind;
  name: string;
  version: string;
  manifest: unknown;
  /** Attestations to attach right away (Sigstore bundles or DSSE envelopes). */
  attestations?: unknown[];
  lineage?: { runId?: string; inputs?: string[] };
}

interface VersionRow {
  id: string;
  name: string;
  kind: ArtifactKind;
  version: string;
  digest: string;
  stage: Stage;
  revoked_at: string | null;
  revoked_reason: string | null;
  created_at: string | Date;
}

const VERSION_COLUMNS = `v.id, v.name, a.kind, v.version, v.digest, v.stage, v.revoked_at, v.revoked_reason, v.created_at`;

/** Rollback re-verifies each candidate's attestations: a bounded number, newest first, is tried. */
const MAX_ROLLBACK_CANDIDATES = 32;

function toRecord(r: VersionRow): VersionRecord {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    version: r.version,
    digest: r.digest,
    stage: r.stage,
    revoked: r.revoked_at !== null,
    revokedReason: r.revoked_reason,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

/**
 * The control plane's artifact registry: versions with their manifests and attestations,
 * stage transitions guarded by signatures, scans and policy-checked approvals, and lineage.
 * Every guard re-verifies stored attestations, so a signer revoked after attaching stops promotion.
 */
export class ArtifactRegistry {
  readonly lineage: LineageGraph;

  constructor(
    private readonly db: Database,
    private readonly deps: ArtifactRegistryDeps,
  ) {
    this.lineage = new LineageGraph(db);
  }

  async register(input: RegisterInput): Promise<{ version: VersionRecord; created: boolean }> {
    const name = checkName(input.name);
    const version = checkVersion(input.version);
    const manifest = parseManifest(input.manifest);
    if (manifest.predicate.warden.kind !== input.kind) {
      throw new WardenError('WARDEN_ARTIFACT_MANIFEST_INVALID', `the manifest describes a ${manifest.predicate.warden.kind}, not a ${input.kind}`);
    }
    const digest = manifest.predicate.warden.rootDigest;
    const id = `${name}@${version}`;
    const inputs = (input.lineage?.inputs ?? []).map(parseRef);
    // A signed manifest must be the registered one, not just share its root digest: what is stored is what was signed.
    const verified = (input.attestations ?? []).map((a) => this.verifyFor(a, { id, name, version, digest }, manifest));
    for (const v of verified) this.refuseSignerForPredicate(id, v);
    await this.refuseFrozen(id, [...inputs, ...verified.flatMap(provenanceDatasets)]);
    const created = await this.db.transaction(async (tx) => {
      await this.refuseRevokedDigest(id, digest, tx);
      const existingArtifact = await tx.query<{ kind: ArtifactKind }>(`SELECT kind FROM artifacts WHERE name = $1`, [name]);
      if (existingArtifact.rows[0] && existingArtifact.rows[0].kind !== input.kind) {
        throw new WardenError('WARDEN_ARTIFACT_KIND_MISMATCH', `${name} is registered as a ${existingArtifact.rows[0].kind}`);
      }
      if (!existingArtifact.rows[0]) await tx.query(`INSERT INTO artifacts (name, kind) VALUES ($1, $2)`, [name, input.kind]);
      const existing = await tx.query<{ digest: string }>(`SELECT digest FROM artifact_versions WHERE id = $1`, [id]);
      let isNew = false;
      if (existing.rows[0]) {
        if (existing.rows[0].digest !== digest) throw new WardenError('WARDEN_ARTIFACT_EXISTS', `${id} is already registered with digest ${existing.rows[0].digest}`);
      } else {
        await tx.query(`INSERT INTO artifact_versions (id, name, version, digest, manifest) VALUES ($1, $2, $3, $4, $5::jsonb)`, [id, name, version, digest, JSON.stringify(manifest)]);
        isNew = true;
      }
      const node = input.kind === 'model' ? lineageKey.model(name, version) : lineageKey.dataset(name, version);
      await this.lineage.upsertNode({ key: node, kind: input.kind, name, attrs: { version, digest } }, tx);
      if (input.kind === 'dataset') await this.lineage.linkVersionToDataset(name, node, 'warden', tx);
      if (input.lineage?.runId) {
        const run = lineageKey.run(input.lineage.runId);
        await this.lineage.upsertNode({ key: run, kind: 'run', name: input.lineage.runId, attrs: {} }, tx);
        await this.lineage.addEdge({ src: run, dst: node, relation: 'produced', source: 'warden' }, tx);
        for (const ref of inputs) {
          const ds = lineageKey.dataset(ref.name, ref.version);
          await this.lineage.upsertNode({ key: ds, kind: 'dataset', name: ref.name, attrs: {} }, tx);
          await this.lineage.linkVersionToDataset(ref.name, ds, 'warden', tx);
          await this.lineage.addEdge({ src: ds, dst: run, relation: 'input_to', source: 'warden' }, tx);
        }
      } else {
        for (const ref of inputs) {
          const ds = lineageKey.dataset(ref.name, ref.version);
          await this.lineage.upsertNode({ key: ds, kind: 'dataset', name: ref.name, attrs: {} }, tx);
          await this.lineage.linkVersionToDataset(ref.name, ds, 'warden', tx);
          await this.lineage.addEdge({ src: ds, dst: node, relation: 'derived_into', source: 'warden' }, tx);
        }
      }
      for (const [i, v] of verified.entries()) await this.store(tx, id, v, (input.attestations ?? [])[i]);
      return isNew;
    });
    return { version: await this.getVersion(name, version), created };
  }

  async getVersion(name: string, version: string, tx: Queryable = this.db): Promise<VersionRecord> {
    const r = await tx.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM artifact_versions v JOIN artifacts a ON a.name = v.name WHERE v.id = $1`, [`${name}@${version}`]);
    if (!r.rows[0]) throw new WardenError('WARDEN_ARTIFACT_NOT_FOUND', `${name}@${version} is not registered`);
    return toRecord(r.rows[0]);
  }

  async getManifest(name: string, version: string): Promise<Manifest> {
    const r = await this.db.query<{ manifest: Manifest }>(`SELECT manifest FROM artifact_versions WHERE id = $1`, [`${name}@${version}`]);
    if (!r.rows[0]) throw new WardenError('WARDEN_ARTIFACT_NOT_FOUND', `${name}@${version} is not registered`);
    return r.rows[0].manifest;
  }

  async list(kind?: ArtifactKind): Promise<{ name: string; kind: ArtifactKind; versions: number; serving: string | null; latest: string | null }[]> {
    const r = await this.db.query<{ name: string; kind: ArtifactKind; versions: number; serving: string | null; latest: string | null }>(
      `SELECT a.name, a.kind, COUNT(v.id)::int AS versions,
              MAX(CASE WHEN v.stage = 'serving' THEN v.version END) AS serving,
              (SELECT v2.version FROM artifact_versions v2 WHERE v2.name = a.name ORDER BY v2.created_at DESC, v2.version DESC LIMIT 1) AS latest
       FROM artifacts a LEFT JOIN artifact_versions v ON v.name = a.name
       WHERE ($1::text IS NULL OR a.kind = $1)
       GROUP BY a.name, a.kind ORDER BY a.name`,
      [kind ?? null],
    );
    return r.rows.map((x) => ({ ...x, versions: Number(x.versions) }));
  }

  async show(name: string): Promise<{ name: string; kind: ArtifactKind; versions: (VersionRecord & { attestations: AttestationRecord[] })[] }> {
    checkName(name);
    const a = await this.db.query<{ kind: ArtifactKind }>(`SELECT kind FROM artifacts WHERE name = $1`, [name]);
    if (!a.rows[0]) throw new WardenError('WARDEN_ARTIFACT_NOT_FOUND', `${name} is not registered`);
    const v = await this.db.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM artifact_versions v JOIN artifacts a ON a.name = v.name WHERE v.name = $1 ORDER BY v.created_at, v.version`, [name]);
    const versions = [];
    for (const row of v.rows) versions.push({ ...toRecord(row), attestations: await this.attestations(row.id) });
    return { name, kind: a.rows[0].kind, versions };
  }

  async attestations(versionId: string): Promise<AttestationRecord[]> {
    const r = await this.db.query<{ id: string; predicate_type: string; signer_key_id: string; signer_spiffe_id: string | null; signer_serial: string | null; created_at: string | Date }>(
      `SELECT id, predicate_type, signer_key_id, signer_spiffe_id, signer_serial, created_at FROM artifact_attestations WHERE version_id = $1 ORDER BY created_at, id`,
      [versionId],
    );
    return r.rows.map((x) => ({
      id: x.id,
      predicateType: x.predicate_type,
      signer: { keyId: x.signer_key_id, spiffeId: x.signer_spiffe_id, serial: x.signer_serial },
      createdAt: new Date(x.created_at).toISOString(),
    }));
  }

  /** Verifies an attestation, checks it is about this version, stores it, and ingests provenance lineage. */
  async attach(name: string, version: string, bundle: unknown): Promise<AttestationRecord> {
    const v = await this.getVersion(name, version);
    const verified = this.verifyFor(bundle, v, await this.getManifest(name, version));
    this.refuseSignerForPredicate(v.id, verified);
    await this.refuseFrozen(v.id, provenanceDatasets(verified));
    return this.db.transaction(async (tx) => this.store(tx, v.id, verified, bundle));
  }

  /**
   * Revocation is of bytes, not of a name: the same bytes under another version or model name
   * must not come back into service (the gateway refuses a revoked digest anyway).
   */
  private async refuseRevokedDigest(id: string, digest: string, tx: Queryable = this.db): Promise<void> {
    const r = await tx.query<{ id: string }>(`SELECT id FROM artifact_versions WHERE digest = $1 AND revoked_at IS NOT NULL ORDER BY id LIMIT 1`, [digest]);
    if (r.rows[0]) throw new WardenError('WARDEN_ARTIFACT_REVOKED', `${id} has the bytes (digest ${digest}) of revoked version ${r.rows[0].id}`);
  }

  /** Approvals are the control plane's word; scan reports that of a configured scanner. */
  private mayAttest(v: VerifiedAttestation): boolean {
    const type = v.statement.predicateType;
    const own = v.signer.keyId === this.deps.signer.keyId || (this.deps.controlPlaneKeyIds?.includes(v.signer.keyId) ?? false);
    if (type === WARDEN_APPROVAL_PREDICATE) return own;
    if (type === WARDEN_SCAN_PREDICATE) {
      const s = this.deps.scanners;
      return own || (s?.keyIds?.includes(v.signer.keyId) ?? false) || (v.signer.spiffeId !== undefined && (s?.spiffeIds?.includes(v.signer.spiffeId) ?? false));
    }
    return true;
  }

  private refuseSignerForPredicate(id: string, v: VerifiedAttestation): void {
    if (this.mayAttest(v)) return;
    const who = v.signer.spiffeId ?? `key ${v.signer.keyId}`;
    const rule =
      v.statement.predicateType === WARDEN_APPROVAL_PREDICATE
        ? 'approvals are signed by the control plane (POST …/approve)'
        : 'scan reports are signed by the Warden key or a configured scanner (artifacts.trust.scannerKeyIds / scannerSpiffeIds)';
    throw new WardenError('WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED', `${who} may not sign ${v.statement.predicateType} for ${id}: ${rule}`);
  }

  private async refuseFrozen(id: string, datasets: readonly { name: string; version?: string | undefined }[]): Promise<void> {
    if (!this.deps.frozenDatasets || datasets.length === 0) return;
    const frozen = await this.deps.frozenDatasets(datasets);
    if (frozen.length > 0) throw new WardenError('WARDEN_ARTIFACT_DATASET_FROZEN', `${id} derives from frozen dataset ${frozen.join(', ')}`);
  }

  /** The datasets a version derives from, per lineage (every version and name node upstream of it). */
  private async upstreamDatasets(v: VersionRecord): Promise<{ name: string; version?: string }[]> {
    const key = v.kind === 'model' ? lineageKey.model(v.name, v.version) : lineageKey.dataset(v.name, v.version);
    const { nodes } = await this.lineage.walk(key, 'upstream');
    return nodes.filter((n) => n.kind === 'dataset' && n.key !== key).map((n) => parseRef(n.key.slice('dataset:'.length)));
  }

  /** `manifest`, when given, is the version's manifest: a signed manifest must equal it, not only share its root digest. */
  private verifyFor(bundle: unknown, v: { id: string; name: string; version: string; digest: string }, manifest?: Manifest): VerifiedAttestation {
    const verified = this.deps.verifier.verify(bundle);
    const st = verified.statement;
    if (st.predicateType === MODEL_SIGNING_PREDICATE_V1) {
      const m = parseManifest(st);
      if (m.predicate.warden.rootDigest !== v.digest) throw new WardenError('WARDEN_ATTESTATION_SUBJECT_MISMATCH', `the signed manifest is not the manifest of ${v.id}`);
      if (manifest && canonicalJson(parseManifest(manifest)) !== canonicalJson(m)) {
        throw new WardenError('WARDEN_ATTESTATION_SUBJECT_MISMATCH', `the signed manifest differs from the registered manifest of ${v.id}`);
      }
    } else if (!st.subject.some((s) => s.name === v.id && s.digest.sha256 === v.digest)) {
      // The version subject (versionSubject: NAME@VERSION → root digest) is what binds it: the digest
      // alone would let provenance about `other@7` with these bytes link lineage to this version.
      throw new WardenError('WARDEN_ATTESTATION_SUBJECT_MISMATCH', `no attestation subject is ${v.id} with its digest`);
    }
    return verified;
  }

  private async store(tx: Queryable, versionId: string, verified: VerifiedAttestation, bundle: unknown): Promise<AttestationRecord> {
    // Same bundle attached to two versions (identical bytes) is two records: the id covers the version.
    const id = createHash('sha256').update(versionId).update('\0').update(canonicalJson(bundle)).digest('hex');
    const s = verified.signer;
    await tx.query(
      `INSERT INTO artifact_attestations (id, version_id, predicate_type, signer_key_id, signer_spiffe_id, signer_serial, bundle)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (id) DO NOTHING`,
      [id, versionId, verified.statement.predicateType, s.keyId, s.spiffeId ?? null, s.serial ?? null, JSON.stringify(bundle)],
    );
    if (verified.statement.predicateType === SLSA_PROVENANCE_V1) await this.ingestProvenance(tx, versionId, verified as VerifiedAttestation<SlsaProvenancePredicate>);
    return { id, predicateType: verified.statement.predicateType, signer: { keyId: s.keyId, spiffeId: s.spiffeId ?? null, serial: s.serial ?? null }, createdAt: new Date().toISOString() };
  }

  /** SLSA provenance → lineage: resolved `dataset:` dependencies → training run (builder = job SPIFFE ID) → model version. */
  private async ingestProvenance(tx: Queryable, versionId: string, att: VerifiedAttestation<SlsaProvenancePredicate>): Promise<void> {
    const p = att.statement.predicate;
    const runId = p?.runDetails?.metadata?.invocationId;
    if (!runId || typeof runId !== 'string') return;
    const { name, version } = parseRef(versionId);
    const kindRow = await tx.query<{ kind: ArtifactKind }>(`SELECT kind FROM artifacts WHERE name = $1`, [name]);
    const node = kindRow.rows[0]?.kind === 'dataset' ? lineageKey.dataset(name, version) : lineageKey.model(name, version!);
    const run = lineageKey.run(runId);
    await this.lineage.upsertNode({ key: run, kind: 'run', name: runId, attrs: { builder: p.runDetails.builder?.id ?? null, signer: att.signer.spiffeId ?? att.signer.keyId } }, tx);
    await this.lineage.addEdge({ src: run, dst: node, relation: 'produced', source: 'warden' }, tx);
    for (const dep of p.buildDefinition?.resolvedDependencies ?? []) {
      if (typeof dep.name !== 'string' || !dep.name.startsWith('dataset:')) continue;
      const ref = parseRef(dep.name.slice('dataset:'.length));
      const ds = lineageKey.dataset(ref.name, ref.version);
      await this.lineage.upsertNode({ key: ds, kind: 'dataset', name: ref.name, attrs: dep.digest?.sha256 ? { digest: dep.digest.sha256 } : {} }, tx);
      await this.lineage.linkVersionToDataset(ref.name, ds, 'warden', tx);
      await this.lineage.addEdge({ src: ds, dst: run, relation: 'input_to', source: 'warden' }, tx);
    }
  }

  /** Re-verifies every stored attestation of a version (trust and revocation may have changed). */
  private async currentAttestations(versionId: string): Promise<VerifiedAttestation[]> {
    const r = await this.db.query<{ bundle: unknown }>(`SELECT bundle FROM artifact_attestations WHERE version_id = $1 ORDER BY created_at, id`, [versionId]);
    const v = parseRef(versionId);
    const rec = await this.getVersion(v.name, v.version!);
    return r.rows.map((row) => this.verifyFor(row.bundle, rec));
  }

  /**
   * Cedar `deployModel` on `ModelVersion::"NAME@VERSION"` (in `Model::"NAME"`, attributes digest
   * and stage) with the schema's RequestContext (examples/policies/schema.cedarschema).
   */
  private deployDecision(principal: string, v: VersionRecord, where: ApprovalContext = {}): { allowed: boolean; policies: string[] } {
    const resource = { type: 'ModelVersion', id: v.id };
    const d = this.deps.authorizer.authorize({
      principal: parseEntity(principal),
      action: { type: 'Action', id: 'deployModel' },
      resource,
      resourceParents: [{ type: 'Model', id: v.name }],
      entities: [{ uid: resource, attrs: { digest: v.digest, stage: v.stage }, parents: [{ type: 'Model', id: v.name }] }],
      context: buildRequestContext({ region: where.region ?? 'local', classification: 'internal', mfa: where.mfa ?? false, sourceIp: where.sourceIp ?? '127.0.0.1' }),
    });
    return { allowed: d.decision === 'allow', policies: d.determining };
  }

  /** Records an approval by `principal` if policy allows it to deployModel; signed by the Warden key. */
  async approve(name: string, version: string, principal: string, comment?: string, where?: ApprovalContext): Promise<AttestationRecord> {
    const v = await this.getVersion(name, version);
    if (v.kind !== 'model') throw new WardenError('WARDEN_ARTIFACT_STAGE_INVALID', 'only model versions are approved for serving');
    if (v.revoked) throw new WardenError('WARDEN_ARTIFACT_REVOKED', `${v.id} is revoked`);
    await this.refuseRevokedDigest(v.id, v.digest);
    const decision = this.deployDecision(principal, v, where);
    if (!decision.allowed) throw new WardenError('WARDEN_ARTIFACT_APPROVER_DENIED', `${principal} may not deployModel ${v.id}`);
    const predicate: ApprovalPredicate = { approver: principal, stage: 'approved', approvedAt: new Date().toISOString(), policies: decision.policies, ...(comment ? { comment: comment.slice(0, 1000) } : {}) };
    const bundle = signStatement(approvalStatement(versionSubject(name, version, v.digest), predicate), this.deps.signer);
    return this.attach(name, version, bundle);
  }

  /** Checks signature chain, scan and approval; throws the first unmet requirement. */
  async checkPromotable(v: VersionRecord): Promise<void> {
    if (v.revoked) throw new WardenError('WARDEN_ARTIFACT_REVOKED', `${v.id} is revoked: ${v.revokedReason ?? 'no reason given'}`);
    await this.refuseRevokedDigest(v.id, v.digest);
    if (this.deps.frozenDatasets) await this.refuseFrozen(v.id, await this.upstreamDatasets(v));
    // Any stored attestation that no longer verifies (revoked signer, removed trust) breaks the chain.
    const atts = await this.currentAttestations(v.id);
    const policy = this.deps.promotion;
    if (policy.requireSignature && !atts.some((a) => a.statement.predicateType === MODEL_SIGNING_PREDICATE_V1)) {
      throw new WardenError('WARDEN_ARTIFACT_SIGNATURE_REQUIRED', `${v.id} has no valid signed manifest`);
    }
    if (policy.requireScan) {
      const scans = atts.filter((a) => a.statement.predicateType === WARDEN_SCAN_PREDICATE) as VerifiedAttestation<ScanPredicate>[];
      if (scans.length === 0) throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `${v.id} has no signed scan report`);
      // Scans that missed files are ignored; any complete scan with a blocking finding blocks, since
      // every scan is bound to the same bytes and a later clean scan does not make a finding go away.
      // Only a scan by a configured scanner can vouch the bytes are clean; findings block from any
      // signer that still verifies (fail closed when a scanner is later taken off the list).
      const manifest = await this.getManifest(v.name, v.version);
      let coverageError: WardenError | undefined;
      let covering = 0;
      let coveringByOthers = 0;
      for (const s of scans) {
        const files = Array.isArray(s.statement.predicate?.files) ? s.statement.predicate.files : [];
        try {
          checkScanCoverage(v.id, manifest, files);
        } catch (err) {
          coverageError = err as WardenError;
          continue;
        }
        const bad = findingsAtOrAbove({ files }, policy.failOn);
        if (bad.length > 0) throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `${v.id} scan has ${bad.length} finding(s) at or above ${policy.failOn} (first: ${bad[0]!.rule})`);
        if (this.mayAttest(s)) covering++;
        else coveringByOthers++;
      }
      if (covering === 0 && coveringByOthers > 0) {
        throw new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `${v.id} has no complete scan signed by the Warden key or a configured scanner (artifacts.trust.scannerKeyIds / scannerSpiffeIds)`);
      }
      if (covering === 0) throw coverageError ?? new WardenError('WARDEN_ARTIFACT_SCAN_REQUIRED', `${v.id} has no complete scan`);
    }
    if (policy.requireApproval) {
      // An approval counts only when this control plane signed it (after its own deployModel check).
      const approvals = atts.filter((a) => a.statement.predicateType === WARDEN_APPROVAL_PREDICATE && this.mayAttest(a)) as VerifiedAttestation<ApprovalPredicate>[];
      if (!approvals.some((a) => typeof a.statement.predicate?.approver === 'string' && this.deployDecision(a.statement.predicate.approver, v).allowed)) {
        throw new WardenError('WARDEN_ARTIFACT_APPROVAL_REQUIRED', `${v.id} has no approval signed by the control plane for a principal allowed to deployModel`);
      }
    }
  }

  /** candidate → approved → serving (the previous serving version steps back to approved); any → retired. */
  async promote(name: string, version: string, to: Stage): Promise<{ version: VersionRecord; previousServing: string | null }> {
    const v = await this.getVersion(name, version);
    if (v.kind !== 'model' && to !== 'retired') throw new WardenError('WARDEN_ARTIFACT_STAGE_INVALID', 'only model versions are promoted');
    const allowed: Record<Stage, Stage[]> = { candidate: ['approved', 'retired'], approved: ['serving', 'retired'], serving: ['retired'], retired: [] };
    if (!allowed[v.stage].includes(to)) throw new WardenError('WARDEN_ARTIFACT_STAGE_INVALID', `${v.id} cannot go from ${v.stage} to ${to}`);
    if (to === 'approved' || to === 'serving') await this.checkPromotable(v);
    let previousServing: string | null = null;
    await this.db.transaction(async (tx) => {
      const cur = await tx.query<{ stage: Stage }>(`SELECT stage FROM artifact_versions WHERE id = $1 FOR UPDATE`, [v.id]);
      if (cur.rows[0]?.stage !== v.stage) throw new WardenError('WARDEN_CONFLICT', `${v.id} changed stage concurrently`);
      if (to === 'serving') {
        // Bytes revoked (under any version) while the checks ran never reach serving.
        await this.refuseRevokedDigest(v.id, v.digest, tx);
        const prev = await tx.query<{ id: string }>(`UPDATE artifact_versions SET stage = 'approved', stage_changed_at = now() WHERE name = $1 AND stage = 'serving' RETURNING id`, [name]);
        previousServing = prev.rows[0]?.id ?? null;
        await tx.query(`UPDATE artifact_versions SET stage = 'serving', served_seq = nextval('artifact_serving_seq'), stage_changed_at = now() WHERE id = $1`, [v.id]);
        await this.recordDeployment(tx, name, version);
      } else {
        await tx.query(`UPDATE artifact_versions SET stage = $2, stage_changed_at = now(), approved_at = CASE WHEN $2 = 'approved' THEN now() ELSE approved_at END WHERE id = $1`, [v.id, to]);
      }
    });
    return { version: await this.getVersion(name, version), previousServing };
  }

  private async recordDeployment(tx: Queryable, name: string, version: string): Promise<void> {
    const dep = lineageKey.deployment(name);
    await this.lineage.upsertNode({ key: dep, kind: 'deployment', name, attrs: {} }, tx);
    await this.lineage.addEdge({ src: lineageKey.model(name, version), dst: dep, relation: 'deployed_as', source: 'warden' }, tx);
  }

  /** Marks a version revoked (tampered, poisoned, bad signer). A serving version is pulled: the model has none until rollback. */
  async revoke(name: string, version: string, reason: string): Promise<VersionRecord> {
    const v = await this.getVersion(name, version);
    await this.db.query(
      `UPDATE artifact_versions SET revoked_at = COALESCE(revoked_at, now()), revoked_reason = $2,
              stage = CASE WHEN stage = 'serving' THEN 'retired' ELSE stage END, stage_changed_at = now() WHERE id = $1`,
      [v.id, reason.slice(0, 500)],
    );
    return this.getVersion(name, version);
  }

  /** The version `rollback` would serve now (null: none passes the promotion checks); changes nothing. */
  async rollbackTarget(name: string): Promise<string | null> {
    return (await this.findRollbackTarget(name)).target?.version ?? null;
  }

  private async findRollbackTarget(name: string): Promise<{ target: VersionRecord | undefined; refused: string[] }> {
    checkName(name);
    const candidates = await this.db.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM artifact_versions v JOIN artifacts a ON a.name = v.name
       WHERE v.name = $1 AND v.stage = 'approved' AND v.revoked_at IS NULL
       ORDER BY v.served_seq DESC NULLS LAST, v.approved_at DESC NULLS LAST, v.created_at DESC LIMIT ${MAX_ROLLBACK_CANDIDATES}`,
      [name],
    );
    const refused: string[] = [];
    let target: VersionRecord | undefined;
    for (const row of candidates.rows) {
      const v = toRecord(row);
      try {
        await this.checkPromotable(v);
        target = v;
        break;
      } catch (err) {
        if (!(err instanceof WardenError)) throw err;
        refused.push(`${v.id}: ${err.code} ${err.message.slice(0, 200)}`);
      }
    }
    return { target, refused };
  }

  /**
   * Serving moves to the approved, unrevoked version that served most recently (else the latest
   * approved) among those that pass every check of a promotion to serving now: a rollback is an
   * emergency path, not a way around a frozen dataset, a revoked signer or a withdrawn approver.
   */
  async rollback(name: string): Promise<{ from: string | null; to: string }> {
    const { target, refused } = await this.findRollbackTarget(name);
    if (!target) {
      const why = refused.length > 0 ? `; refused: ${refused.join('; ')}` : '';
      throw new WardenError('WARDEN_ARTIFACT_NO_ROLLBACK_TARGET', `${name} has no earlier approved, unrevoked version that passes the promotion checks${why}`);
    }
    const to = target;
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT id FROM artifact_versions WHERE name = $1 FOR UPDATE`, [name]);
      // Checked outside the lock (attestation verification is slow): the target must not have moved since.
      const now = await tx.query<{ stage: Stage; revoked_at: string | null }>(`SELECT stage, revoked_at FROM artifact_versions WHERE id = $1`, [to.id]);
      if (now.rows[0]?.stage !== 'approved' || now.rows[0].revoked_at !== null) throw new WardenError('WARDEN_CONFLICT', `${to.id} changed concurrently`);
      await this.refuseRevokedDigest(to.id, to.digest, tx);
      const current = await tx.query<{ id: string }>(`SELECT id FROM artifact_versions WHERE name = $1 AND stage = 'serving'`, [name]);
      const from = current.rows[0]?.id ?? null;
      if (from) await tx.query(`UPDATE artifact_versions SET stage = 'retired', stage_changed_at = now() WHERE id = $1`, [from]);
      await tx.query(`UPDATE artifact_versions SET stage = 'serving', served_seq = nextval('artifact_serving_seq'), stage_changed_at = now() WHERE id = $1`, [to.id]);
      await this.recordDeployment(tx, name, to.version);
      return { from, to: to.id };
    });
  }

  async ingestOpenLineage(event: unknown): Promise<{ run: string; inputs: string[]; outputs: string[] }> {
    return this.db.transaction((tx) =>
      this.lineage.ingestOpenLineage(event, async (n) => (await tx.query(`SELECT 1 FROM artifacts WHERE name = $1 AND kind = 'model'`, [n])).rows.length > 0, tx),
    );
  }

  /** Resolves a user reference (node key, `name@version` or artifact name) to a lineage node key. */
  async resolveLineageKey(ref: string): Promise<string> {
    if (/^(dataset|run|model|deployment):/.test(ref)) return ref;
    const { name, version } = parseRef(ref);
    const a = await this.db.query<{ kind: ArtifactKind }>(`SELECT kind FROM artifacts WHERE name = $1`, [name]);
    const kind = a.rows[0]?.kind ?? 'dataset';
    if (kind === 'model') return version ? lineageKey.model(name, version) : lineageKey.deployment(name);
    return lineageKey.dataset(name, version);
  }

  async lineageOf(ref: string, direction: 'upstream' | 'downstream') {
    return this.lineage.walk(await this.resolveLineageKey(ref), direction);
  }

  /** Every model version, run and deployment derived from a dataset (all its versions when no version is given). */
  async blastRadius(datasetRef: string): Promise<{
    dataset: string;
    /** Whether the dataset (or, for NAME@VERSION, its name) is frozen; null when no freeze check is wired. */
    frozen: boolean | null;
    runs: LineageNode[];
    datasets: LineageNode[];
    models: (LineageNode & { version: string; stage: Stage | null; revoked: boolean })[];
    deployments: (LineageNode & { servingVersion: string | null; servingAffected: boolean })[];
  }> {
    const start = await this.resolveLineageKey(datasetRef);
    if (!start.startsWith('dataset:')) throw new WardenError('WARDEN_INPUT_INVALID', `${datasetRef} is not a dataset`);
    const { nodes } = await this.lineage.walk(start, 'downstream');
    const modelNodes = nodes.filter((n) => n.kind === 'model');
    const ids = modelNodes.map((n) => n.key.slice('model:'.length));
    const states = await this.db.query<{ id: string; stage: Stage; revoked_at: string | null }>(`SELECT id, stage, revoked_at FROM artifact_versions WHERE id = ANY($1::text[])`, [ids]);
    const byId = new Map(states.rows.map((r) => [r.id, r]));
    const affected = new Set(ids);
    const models = modelNodes.map((n) => {
      const id = n.key.slice('model:'.length);
      const s = byId.get(id);
      return { ...n, version: parseRef(id).version ?? '', stage: s?.stage ?? null, revoked: !!s?.revoked_at };
    });
    const deployments = [];
    for (const d of nodes.filter((n) => n.kind === 'deployment')) {
      const s = await this.db.query<{ id: string; version: string }>(`SELECT id, version FROM artifact_versions WHERE name = $1 AND stage = 'serving'`, [d.name]);
      deployments.push({ ...d, servingVersion: s.rows[0]?.version ?? null, servingAffected: s.rows[0] ? affected.has(s.rows[0].id) : false });
    }
    const ref = parseRef(start.slice('dataset:'.length));
    return {
      dataset: start,
      frozen: this.deps.frozenDatasets ? (await this.deps.frozenDatasets([ref])).length > 0 : null,
      runs: nodes.filter((n) => n.kind === 'run'),
      datasets: nodes.filter((n) => n.kind === 'dataset' && n.key !== start),
      models,
      deployments,
    };
  }
}

/** `dataset:NAME@VERSION` dependencies of a verified SLSA provenance statement (none for other predicates). */
function provenanceDatasets(att: VerifiedAttestation): { name: string; version?: string }[] {
  if (att.statement.predicateType !== SLSA_PROVENANCE_V1) return [];
  const deps = (att.statement.predicate as SlsaProvenancePredicate | undefined)?.buildDefinition?.resolvedDependencies ?? [];
  return deps.filter((d) => typeof d.name === 'string' && d.name.startsWith('dataset:')).map((d) => parseRef(d.name!.slice('dataset:'.length)));
}

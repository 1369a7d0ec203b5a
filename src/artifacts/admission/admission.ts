import type { Queryable } from '../../store/index.js';

/**
 * Gateway admission of model versions, evaluated on every request from an in-memory table
 * pushed with the PEP snapshot (no database on the hot path). The rule:
 *  - a model not in the registry is served only when admission is not enforced for it
 *    (`artifacts.admission.enforce` false and the model not in `artifacts.admission.models`);
 *  - a registered model is served only at its serving version, and, when the upstream reports a
 *    digest, only if it equals the pinned manifest root digest of that version;
 *  - a revoked version, or bytes whose digest is that of a revoked version, are refused.
 */
export interface ModelAdmission {
  serving: { version: string; digest: string } | null;
  /** The frozen allow result for the serving version, shared by every request (no per-request allocation). */
  admitted?: AdmissionResult;
  /** version → revoked? (every registered version). */
  revokedVersions: ReadonlySet<string>;
  revokedDigests: ReadonlySet<string>;
}

export interface AdmissionTable {
  /** When this table was built (snapshot versioning / debugging). */
  builtAt: string;
  enforceAll: boolean;
  enforced: ReadonlySet<string>;
  models: ReadonlyMap<string, ModelAdmission>;
}

export type AdmissionCode =
  | 'WARDEN_ADMISSION_UNREGISTERED'
  | 'WARDEN_ADMISSION_NOT_SERVING'
  | 'WARDEN_ADMISSION_VERSION_NOT_SERVING'
  | 'WARDEN_ADMISSION_REVOKED'
  | 'WARDEN_ADMISSION_DIGEST_MISMATCH';

export type AdmissionResult =
  | { ok: true; version: string | null; digest: string | null }
  | { ok: false; code: AdmissionCode; message: string };

export interface AdmissionOptions {
  enforce?: boolean;
  models?: readonly string[];
}

export interface AdmissionRow {
  name: string;
  version: string;
  digest: string;
  stage: string;
  revoked: boolean;
}

export function admissionTableFromRows(rows: readonly AdmissionRow[], options: AdmissionOptions = {}): AdmissionTable {
  // Revocation is of bytes: a version with the digest of a revoked version (of any model) is
  // treated as revoked too, so it is never pinned as serving. Only digests of a model's own
  // versions go into its set, which keeps the snapshot small.
  const revokedBytes = new Set(rows.filter((r) => r.revoked).map((r) => r.digest));
  const models = new Map<string, { serving: ModelAdmission['serving']; revokedVersions: Set<string>; revokedDigests: Set<string> }>();
  for (const r of rows) {
    let m = models.get(r.name);
    if (!m) models.set(r.name, (m = { serving: null, revokedVersions: new Set(), revokedDigests: new Set() }));
    if (r.revoked || revokedBytes.has(r.digest)) {
      m.revokedVersions.add(r.version);
      m.revokedDigests.add(r.digest);
    } else if (r.stage === 'serving') {
      m.serving = { version: r.version, digest: r.digest };
    }
  }
  for (const m of models.values() as Iterable<ModelAdmission>) withAdmitted(m);
  return { builtAt: new Date().toISOString(), enforceAll: options.enforce ?? false, enforced: new Set(options.models ?? []), models };
}

function withAdmitted(m: ModelAdmission): ModelAdmission {
  // A table from elsewhere (JSON snapshot) that pins a revoked digest serves nothing instead.
  if (m.serving && m.revokedDigests.has(m.serving.digest)) m.serving = null;
  if (m.serving) m.admitted = Object.freeze({ ok: true as const, version: m.serving.version, digest: m.serving.digest });
  return m;
}

const ADMITTED_UNREGISTERED: AdmissionResult = Object.freeze({ ok: true as const, version: null, digest: null });

/** Reads every model version once and builds the table the gateway consults. */
export async function buildAdmissionTable(db: Queryable, options: AdmissionOptions = {}): Promise<AdmissionTable> {
  const r = await db.query<{ name: string; version: string; digest: string; stage: string; revoked_at: unknown }>(
    `SELECT v.name, v.version, v.digest, v.stage, v.revoked_at FROM artifact_versions v JOIN artifacts a ON a.name = v.name WHERE a.kind = 'model'`,
  );
  return admissionTableFromRows(
    r.rows.map((x) => ({ name: x.name, version: x.version, digest: x.digest, stage: x.stage, revoked: x.revoked_at !== null })),
    options,
  );
}

/** Accepts `sha256:<hex>` or bare hex, any case. */
function normalizeDigest(d: string): string {
  const s = d.startsWith('sha256:') ? d.slice(7) : d;
  return s.toLowerCase();
}

/** O(1) admission decision for one request. */
export function admitModel(table: AdmissionTable, model: string, version: string | undefined, reportedDigest: string | undefined): AdmissionResult {
  const m = table.models.get(model);
  if (!m) {
    if (table.enforceAll || table.enforced.has(model)) return { ok: false, code: 'WARDEN_ADMISSION_UNREGISTERED', message: `model ${model} is not registered` };
    return ADMITTED_UNREGISTERED;
  }
  // Revoked bytes first, whatever else holds: the pin may be stale, the bytes are what is served.
  if (reportedDigest !== undefined) {
    const d = m.serving !== null && reportedDigest === m.serving.digest ? reportedDigest : normalizeDigest(reportedDigest);
    if (m.revokedDigests.has(d)) return { ok: false, code: 'WARDEN_ADMISSION_REVOKED', message: `model ${model} upstream serves the bytes of a revoked version` };
  }
  if (version !== undefined && m.revokedVersions.has(version)) return { ok: false, code: 'WARDEN_ADMISSION_REVOKED', message: `model ${model} version ${version} is revoked` };
  if (!m.serving) return { ok: false, code: 'WARDEN_ADMISSION_NOT_SERVING', message: `model ${model} has no serving version` };
  if (version !== undefined && version !== m.serving.version) {
    return { ok: false, code: 'WARDEN_ADMISSION_VERSION_NOT_SERVING', message: `model ${model} version ${version} is not the serving version` };
  }
  if (reportedDigest !== undefined && reportedDigest !== m.serving.digest) {
    const d = normalizeDigest(reportedDigest);
    if (d !== m.serving.digest) {
      return { ok: false, code: 'WARDEN_ADMISSION_DIGEST_MISMATCH', message: `model ${model} upstream digest does not match the approved digest of version ${m.serving.version}` };
    }
  }
  return m.admitted ?? { ok: true, version: m.serving.version, digest: m.serving.digest };
}

/** JSON form for the PEP snapshot. */
export interface AdmissionTableJson {
  builtAt: string;
  enforceAll: boolean;
  enforced: string[];
  models: Record<string, { serving: { version: string; digest: string } | null; revokedVersions: string[]; revokedDigests: string[] }>;
}

export function admissionTableToJson(t: AdmissionTable): AdmissionTableJson {
  const models: AdmissionTableJson['models'] = {};
  for (const [name, m] of t.models) models[name] = { serving: m.serving ? { version: m.serving.version, digest: m.serving.digest } : null, revokedVersions: [...m.revokedVersions], revokedDigests: [...m.revokedDigests] };
  return { builtAt: t.builtAt, enforceAll: t.enforceAll, enforced: [...t.enforced], models };
}

export function admissionTableFromJson(j: AdmissionTableJson): AdmissionTable {
  const models = new Map<string, ModelAdmission>();
  for (const [name, m] of Object.entries(j.models)) models.set(name, withAdmitted({ serving: m.serving, revokedVersions: new Set(m.revokedVersions), revokedDigests: new Set(m.revokedDigests) }));
  return { builtAt: j.builtAt, enforceAll: j.enforceAll, enforced: new Set(j.enforced), models };
}

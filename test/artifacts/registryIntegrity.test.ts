// Integrity of promotion, revocation and rollback against signers the trust policy accepts but
// that must not decide (a partner key approving or vouching for its own scan), bytes revoked under
// one version coming back under another, and rollback as a way around the promotion checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Database } from '../../src/store/index.js';
import {
  ArtifactRegistry,
  ApproverListAuthorizer,
  AttestationVerifier,
  approvalStatement,
  createManifest,
  signStatement,
  signerFromPrivateKey,
  scanStatement,
  versionSubject,
  buildAdmissionTable,
  admitModel,
  admissionTableFromJson,
  type ArtifactRegistryDeps,
  type ArtifactSigner,
  type Manifest,
} from '../../src/artifacts/index.js';
import { frozenDatasetCheck, rollbackModelAction, type ActionContext } from '../../src/respond/index.js';
import { makeCa, makeSvid } from './fixtures.js';

let db: Database;
let dir: string;
let ca: Awaited<ReturnType<typeof makeCa>>;
const revoked = new Set<string>();
const newKey = (): ArtifactSigner => signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
/** The control plane's own signing key. */
const wardenKey = newKey();
/** A partner's key, trusted to sign manifests (artifacts.trust.publicKeyFiles). */
const partnerKey = newKey();
const ALICE = 'User::"alice"';

before(async () => {
  db = await openStore({});
  dir = mkdtempSync(join(tmpdir(), 'warden-registry-integrity-'));
  ca = await makeCa();
});
after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

function registry(o: { approvers?: string[]; extra?: Partial<ArtifactRegistryDeps> } = {}): ArtifactRegistry {
  const verifier = new AttestationVerifier({
    publicKeys: [wardenKey.publicKey, partnerKey.publicKey],
    caCertificates: [ca.certPem],
    isRevoked: ({ spiffeId, keyId }) => (spiffeId !== undefined && revoked.has(spiffeId)) || (keyId !== undefined && revoked.has(keyId)),
  });
  return new ArtifactRegistry(db, {
    verifier,
    authorizer: new ApproverListAuthorizer(o.approvers ?? [ALICE]),
    signer: wardenKey,
    promotion: { requireSignature: true, requireScan: true, requireApproval: true, failOn: 'high' },
    ...o.extra,
  });
}

async function model(label: string, content: string): Promise<Manifest> {
  const d = join(dir, `${label}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(d);
  writeFileSync(join(d, 'weights.bin'), content);
  writeFileSync(join(d, 'config.json'), `{"name":"${label}"}`);
  return createManifest(d, { kind: 'model' });
}

function scanOf(m: Manifest, findings: { rule: string; severity: 'critical' | 'high'; message: string; location: string }[] = []) {
  return {
    files: m.subject.map((s, i) => ({ path: `model/${s.name}`, format: 'unknown', sha256: s.digest.sha256, findings: i === 0 ? findings : [] })),
    summary: { files: m.subject.length, findings: findings.length },
  };
}

/** Signed manifest (by `manifestSigner`) + clean scan (by `scanSigner`), as `warden artifact add --scan` sends. */
async function add(reg: ArtifactRegistry, name: string, version: string, m: Manifest, o: { manifestSigner?: ArtifactSigner; scanSigner?: ArtifactSigner; inputs?: string[] } = {}) {
  const digest = m.predicate.warden.rootDigest;
  const attestations = [signStatement(m, o.manifestSigner ?? wardenKey), signStatement(scanStatement(versionSubject(name, version, digest), scanOf(m)), o.scanSigner ?? wardenKey)];
  return (await reg.register({ kind: 'model', name, version, manifest: m, attestations, ...(o.inputs ? { lineage: { runId: `run-${name}-${version}`, inputs: o.inputs } } : {}) })).version;
}

async function serve(reg: ArtifactRegistry, name: string, version: string): Promise<void> {
  await reg.approve(name, version, ALICE);
  await reg.promote(name, version, 'approved');
  await reg.promote(name, version, 'serving');
}

/** The approval statement `/approve` would produce, signed by someone else. */
function forgedApproval(name: string, version: string, digest: string, signer: ArtifactSigner) {
  return signStatement(approvalStatement(versionSubject(name, version, digest), { approver: ALICE, stage: 'approved', approvedAt: new Date().toISOString(), policies: [] }), signer);
}

/** Stores a bundle as-is (an attestation attached before the signer rules existed). */
async function storeRaw(versionId: string, predicateType: string, keyId: string, bundle: unknown): Promise<void> {
  const id = createHash('sha256').update(`raw:${versionId}:${predicateType}:${Math.random()}`).digest('hex');
  await db.query(`INSERT INTO artifact_attestations (id, version_id, predicate_type, signer_key_id, bundle) VALUES ($1, $2, $3, $4, $5::jsonb)`, [id, versionId, predicateType, keyId, JSON.stringify(bundle)]);
}

test('an approval counts only when the control plane signed it: a trusted partner key cannot approve', { timeout: 60_000 }, async () => {
  const reg = registry();
  const m = await model('iris', 'partner-weights');
  const v = await add(reg, 'iris', '3', m, { manifestSigner: partnerKey });
  const forged = forgedApproval('iris', '3', v.digest, partnerKey);

  // Refused when attached, whether on its own or with the registration.
  await assert.rejects(reg.attach('iris', '3', forged), { code: 'WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED', message: /approvals are signed by the control plane/ });
  const m4 = await model('iris', 'partner-weights-4');
  await assert.rejects(
    reg.register({ kind: 'model', name: 'iris', version: '4', manifest: m4, attestations: [signStatement(m4, partnerKey), forgedApproval('iris', '4', m4.predicate.warden.rootDigest, partnerKey)] }),
    { code: 'WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED' },
  );
  await assert.rejects(reg.getVersion('iris', '4'), { code: 'WARDEN_ARTIFACT_NOT_FOUND' });

  // One already stored (attached before this rule) does not count at promotion either.
  await storeRaw(v.id, 'https://warden.dev/attestations/approval/v1', partnerKey.keyId, forged);
  await assert.rejects(reg.promote('iris', '3', 'approved'), { code: 'WARDEN_ARTIFACT_APPROVAL_REQUIRED', message: /signed by the control plane/ });

  // Another control plane replica's key (artifacts.trust.controlPlaneKeyIds) is the control plane too.
  const replica = registry({ extra: { controlPlaneKeyIds: [partnerKey.keyId] } });
  assert.equal((await replica.promote('iris', '3', 'approved')).version.stage, 'approved');
  await reg.promote('iris', '3', 'retired');
  const m5 = await model('iris', 'partner-weights-5');
  const v5 = await add(reg, 'iris', '5', m5, { manifestSigner: partnerKey });
  await assert.rejects(reg.attach('iris', '5', forgedApproval('iris', '5', v5.digest, partnerKey)), { code: 'WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED' });

  // The real approval, signed by the control plane after its deployModel check, does.
  await reg.approve('iris', '5', ALICE);
  assert.equal((await reg.promote('iris', '5', 'approved')).version.stage, 'approved');
  assert.equal((await reg.promote('iris', '5', 'serving')).version.stage, 'serving');
});

test('a scan report counts only from the Warden key or a configured scanner, not from whoever signed the manifest', { timeout: 60_000 }, async () => {
  const reg = registry();
  const m = await model('scanned', 'self-scanned');
  await assert.rejects(add(reg, 'scanned', '1', m, { manifestSigner: partnerKey, scanSigner: partnerKey }), { code: 'WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED', message: /scannerKeyIds/ });
  await assert.rejects(reg.getVersion('scanned', '1'), { code: 'WARDEN_ARTIFACT_NOT_FOUND' });

  // Listed as a scanner (artifacts.trust.scannerKeyIds), the same key's scan is accepted and counts.
  const trusting = registry({ extra: { scanners: { keyIds: [partnerKey.keyId] } } });
  await add(trusting, 'scanned', '1', m, { manifestSigner: partnerKey, scanSigner: partnerKey });
  await trusting.approve('scanned', '1', ALICE);
  assert.equal((await trusting.promote('scanned', '1', 'approved')).version.stage, 'approved');
  // Taken off the list, its clean scan no longer vouches for the bytes.
  await assert.rejects(reg.promote('scanned', '1', 'serving'), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /configured scanner/ });

  // A scanner workload by SPIFFE ID (artifacts.trust.scannerSpiffeIds), exact match only.
  const svid = await makeSvid(ca, 'spiffe://warden.test/scanner', { serial: '5c' });
  const scanner = signerFromPrivateKey(svid.keyPem, svid.certPem);
  const m2 = await model('scanned', 'svid-scanned');
  const near = registry({ extra: { scanners: { spiffeIds: ['spiffe://warden.test/scan'] } } });
  await assert.rejects(add(near, 'scanned', '2', m2, { scanSigner: scanner }), { code: 'WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED' });
  const bySvid = registry({ extra: { scanners: { spiffeIds: ['spiffe://warden.test/scanner'] } } });
  await add(bySvid, 'scanned', '2', m2, { scanSigner: scanner });
  await bySvid.approve('scanned', '2', ALICE);
  assert.equal((await bySvid.promote('scanned', '2', 'approved')).version.stage, 'approved');

  // A blocking finding still blocks when its signer is no longer a scanner (fail closed).
  const m3 = await model('scanned', 'dirty');
  const d3 = m3.predicate.warden.rootDigest;
  await add(reg, 'scanned', '3', m3);
  await storeRaw('scanned@3', 'https://warden.dev/attestations/model-scan/v1', partnerKey.keyId, signStatement(scanStatement(versionSubject('scanned', '3', d3), scanOf(m3, [{ rule: 'pickle-exec', severity: 'critical', message: 'os.system', location: 'op 1' }])), partnerKey));
  await reg.approve('scanned', '3', ALICE);
  await assert.rejects(reg.promote('scanned', '3', 'approved'), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /pickle-exec/ });
});

test('revoked bytes stay revoked: not registered, approved, promoted or admitted under another version or model', { timeout: 60_000 }, async () => {
  const reg = registry();
  const bad = await model('rv', 'revoked-bytes');
  const digest = bad.predicate.warden.rootDigest;
  await add(reg, 'rv', '1', await model('rv', 'rv-1'));
  await serve(reg, 'rv', '1');
  await add(reg, 'rv', '2', bad);
  await serve(reg, 'rv', '2');
  // The same bytes registered (before the revocation) as rv@5 and as another model, the latter serving.
  await add(reg, 'rv', '5', bad);
  await add(reg, 'rv-copy', '1', bad);
  await serve(reg, 'rv-copy', '1');
  await reg.revoke('rv', '2', 'weights tampered');

  await assert.rejects(add(reg, 'rv', '8', bad), { code: 'WARDEN_ARTIFACT_REVOKED', message: /revoked version rv@2/ });
  await assert.rejects(add(reg, 'rv-other', '1', bad), { code: 'WARDEN_ARTIFACT_REVOKED' });
  await assert.rejects(reg.getVersion('rv', '8'), { code: 'WARDEN_ARTIFACT_NOT_FOUND' });
  await assert.rejects(reg.show('rv-other'), { code: 'WARDEN_ARTIFACT_NOT_FOUND' });
  await assert.rejects(reg.approve('rv', '5', ALICE), { code: 'WARDEN_ARTIFACT_REVOKED' });
  await assert.rejects(reg.promote('rv', '5', 'approved'), { code: 'WARDEN_ARTIFACT_REVOKED' });

  // The gateway never pins the revoked digest, whichever version or model carries it.
  const table = await buildAdmissionTable(db);
  for (const t of [table, admissionTableFromJson({ builtAt: 'x', enforceAll: false, enforced: [], models: { 'rv-copy': { serving: { version: '1', digest }, revokedVersions: [], revokedDigests: [digest] } } })]) {
    assert.equal((admitModel(t, 'rv-copy', undefined, undefined) as { code: string }).code, 'WARDEN_ADMISSION_NOT_SERVING');
    assert.equal((admitModel(t, 'rv-copy', undefined, `sha256:${digest}`) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  }
  assert.equal((admitModel(table, 'rv-copy', '1', undefined) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  // Revoked bytes are refused first, whether or not a version serves (rv serves nothing now).
  assert.equal((admitModel(table, 'rv', undefined, digest.toUpperCase()) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  assert.equal((admitModel(table, 'rv', undefined, undefined) as { code: string }).code, 'WARDEN_ADMISSION_NOT_SERVING');
  // Rollback to rv@1 (other bytes) serves again; the revoked bytes are still refused.
  assert.deepEqual(await reg.rollback('rv'), { from: null, to: 'rv@1' });
  const after = await buildAdmissionTable(db);
  assert.equal((admitModel(after, 'rv', undefined, digest) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  assert.equal(admitModel(after, 'rv', undefined, undefined).ok, true);
});

test('rollback passes the promotion checks: it skips a version from a frozen dataset, a revoked signer or a withdrawn approver', { timeout: 60_000 }, async () => {
  const reg = registry({ extra: { frozenDatasets: frozenDatasetCheck(db) } });
  const svid = await makeSvid(ca, 'spiffe://warden.test/train/rb-job', { serial: '7b' });
  const job = signerFromPrivateKey(svid.keyPem, svid.certPem);
  // Serving history, oldest first: @1 (clean) → @2 (signed by the job) → @3 (from rb-data) → @4.
  await add(reg, 'rbk', '1', await model('rbk', 'rbk-1'));
  await add(reg, 'rbk', '2', await model('rbk', 'rbk-2'), { manifestSigner: job });
  await add(reg, 'rbk', '3', await model('rbk', 'rbk-3'), { inputs: ['rb-data@1'] });
  await add(reg, 'rbk', '4', await model('rbk', 'rbk-4'));
  for (const v of ['1', '2', '3', '4']) await serve(reg, 'rbk', v);

  await db.query(`INSERT INTO respond_frozen_datasets (name, frozen_at, frozen_by, incident_id) VALUES ('rb-data', now(), 'test', NULL)`);
  revoked.add('spiffe://warden.test/train/rb-job');
  try {
    // Without the checks, @3 (served most recently) would serve again, then @2.
    assert.deepEqual(await reg.rollback('rbk'), { from: 'rbk@4', to: 'rbk@1' });

    // @5 serves (@1 steps back to approved). Once alice may no longer approve, no candidate is
    // left; the refusal says why for each, and nothing moves.
    await add(reg, 'rbk', '5', await model('rbk', 'rbk-5'));
    await serve(reg, 'rbk', '5');
    const strict = registry({ approvers: ['User::"bob"'], extra: { frozenDatasets: frozenDatasetCheck(db) } });
    const err = await strict.rollback('rbk').then(
      () => assert.fail('rollback should be refused'),
      (e: { code: string; message: string }) => e,
    );
    assert.equal(err.code, 'WARDEN_ARTIFACT_NO_ROLLBACK_TARGET');
    assert.match(err.message, /rbk@3: WARDEN_ARTIFACT_DATASET_FROZEN/);
    assert.match(err.message, /rbk@2: WARDEN_ATTESTATION_SIGNER_REVOKED/);
    assert.match(err.message, /rbk@1: WARDEN_ARTIFACT_APPROVAL_REQUIRED/);
    assert.equal((await reg.show('rbk')).versions.find((v) => v.stage === 'serving')?.version, '5');
  } finally {
    revoked.delete('spiffe://warden.test/train/rb-job');
    await db.query(`DELETE FROM respond_frozen_datasets WHERE name = 'rb-data'`);
  }
});

test('the rollback-model runbook action goes through the same checks', { timeout: 60_000 }, async () => {
  const reg = registry({ extra: { frozenDatasets: frozenDatasetCheck(db) } });
  await add(reg, 'rba', '1', await model('rba', 'rba-1'));
  await add(reg, 'rba', '2', await model('rba', 'rba-2'), { inputs: ['rba-data@1'] });
  await add(reg, 'rba', '3', await model('rba', 'rba-3'));
  for (const v of ['1', '2', '3']) await serve(reg, 'rba', v);
  await db.query(`INSERT INTO respond_frozen_datasets (name, frozen_at, frozen_by, incident_id) VALUES ('rba-data', now(), 'test', NULL)`);
  try {
    let pushed = 0;
    const action = rollbackModelAction({ registry: reg, servingChanged: () => pushed++ });
    const r = await action.apply({ model: 'rba', version: '3' }, { incidentId: 'inc_rb', actor: 'Admin::"t"' } as unknown as ActionContext);
    assert.equal(r.summary, 'rba rolled back from 3 to rba@1');
    assert.equal(pushed, 1);
  } finally {
    await db.query(`DELETE FROM respond_frozen_datasets WHERE name = 'rba-data'`);
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Database } from '../../src/store/index.js';
import {
  ArtifactRegistry,
  ApproverListAuthorizer,
  AttestationVerifier,
  createManifest,
  signStatement,
  signerFromPrivateKey,
  scanStatement,
  trainingProvenance,
  versionSubject,
  buildAdmissionTable,
  admitModel,
  admissionTableToJson,
  admissionTableFromJson,
  type ArtifactRegistryDeps,
  type Manifest,
  type PromotionPolicy,
} from '../../src/artifacts/index.js';
import { makeCa, makeSvid } from './fixtures.js';

let db: Database;
let dir: string;
const revoked = new Set<string>();
const wardenKey = signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
let ca: Awaited<ReturnType<typeof makeCa>>;

before(async () => {
  db = await openStore({});
  dir = mkdtempSync(join(tmpdir(), 'warden-registry-'));
  ca = await makeCa();
});
after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

function registry(promotion: Partial<PromotionPolicy> = {}, approvers = ['User::"alice"'], extra: Partial<ArtifactRegistryDeps> = {}): ArtifactRegistry {
  const verifier = new AttestationVerifier({
    publicKeys: [wardenKey.publicKey],
    caCertificates: [ca.certPem],
    isRevoked: ({ spiffeId, keyId }) => (spiffeId !== undefined && revoked.has(spiffeId)) || (keyId !== undefined && revoked.has(keyId)),
  });
  return new ArtifactRegistry(db, {
    verifier,
    authorizer: new ApproverListAuthorizer(approvers),
    signer: wardenKey,
    promotion: { requireSignature: true, requireScan: true, requireApproval: true, failOn: 'high', ...promotion },
    ...extra,
  });
}

async function model(name: string, content: string): Promise<Manifest> {
  const d = join(dir, `${name}-${content.length}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(d);
  writeFileSync(join(d, 'weights.bin'), content);
  writeFileSync(join(d, 'config.json'), `{"name":"${name}"}`);
  return createManifest(d, { kind: 'model' });
}

/** A scanner report covering every file of the manifest (what src/scan produces for the model directory). */
function scanOf(m: Manifest, findings: { rule: string; severity: 'critical' | 'high' | 'medium' | 'low' | 'info'; message: string; location: string }[] = []) {
  return {
    files: m.subject.map((s, i) => ({ path: `model/${s.name}`, format: 'unknown', sha256: s.digest.sha256, findings: i === 0 ? findings : [] })),
    summary: { files: m.subject.length, findings: findings.length },
  };
}

/** Registers a signed, scanned model version (what `warden artifact add --sign --scan` sends). */
async function addSigned(reg: ArtifactRegistry, name: string, version: string, content: string, extra: unknown[] = []) {
  const m = await model(name, content);
  const digest = m.predicate.warden.rootDigest;
  const attestations = [signStatement(m, wardenKey), signStatement(scanStatement(versionSubject(name, version, digest), scanOf(m)), wardenKey), ...extra];
  return (await reg.register({ kind: 'model', name, version, manifest: m, attestations })).version;
}

test('promotion requires a signed manifest, a passing scan and an approval by a principal allowed to deployModel', async () => {
  const reg = registry();
  const m = await model('m1', 'weights-v1');
  const v = (await reg.register({ kind: 'model', name: 'm1', version: '1', manifest: m })).version;
  assert.equal(v.stage, 'candidate');
  await assert.rejects(reg.promote('m1', '1', 'approved'), { code: 'WARDEN_ARTIFACT_SIGNATURE_REQUIRED' });
  await reg.attach('m1', '1', signStatement(m, wardenKey));
  await assert.rejects(reg.promote('m1', '1', 'approved'), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED' });
  // A clean scan of only some files does not count.
  const partial = scanOf(m);
  partial.files = partial.files.slice(1);
  await reg.attach('m1', '1', signStatement(scanStatement(versionSubject('m1', '1', v.digest), partial), wardenKey));
  await assert.rejects(reg.promote('m1', '1', 'approved'), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /does not cover config.json/ });
  const dirty = scanOf(m, [{ rule: 'pickle-exec', severity: 'critical', message: 'os.system', location: 'op 12' }]);
  await reg.attach('m1', '1', signStatement(scanStatement(versionSubject('m1', '1', v.digest), dirty), wardenKey));
  await assert.rejects(reg.promote('m1', '1', 'approved'), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /pickle-exec/ });

  const clean = registry();
  await clean.register({ kind: 'model', name: 'm1b', version: '1', manifest: m, attestations: [signStatement(m, wardenKey), signStatement(scanStatement(versionSubject('m1b', '1', v.digest), scanOf(m)), wardenKey)] });
  await assert.rejects(clean.promote('m1b', '1', 'approved'), { code: 'WARDEN_ARTIFACT_APPROVAL_REQUIRED' });
  await assert.rejects(clean.promote('m1b', '1', 'serving'), { code: 'WARDEN_ARTIFACT_STAGE_INVALID' });
  await assert.rejects(clean.approve('m1b', '1', 'User::"mallory"'), { code: 'WARDEN_ARTIFACT_APPROVER_DENIED' });
  await clean.approve('m1b', '1', 'User::"alice"');
  assert.equal((await clean.promote('m1b', '1', 'approved')).version.stage, 'approved');
  assert.equal((await clean.promote('m1b', '1', 'serving')).version.stage, 'serving');
  // If policy later stops allowing alice, the recorded approval no longer counts for new promotions.
  const strict = registry({}, ['User::"bob"']);
  await strict.register({ kind: 'model', name: 'm1c', version: '1', manifest: m, attestations: [signStatement(m, wardenKey), signStatement(scanStatement(versionSubject('m1c', '1', v.digest), scanOf(m)), wardenKey)] });
  await clean.approve('m1c', '1', 'User::"alice"');
  await assert.rejects(strict.promote('m1c', '1', 'approved'), { code: 'WARDEN_ARTIFACT_APPROVAL_REQUIRED' });
});

test('attestations must be about the version: a manifest of other bytes is refused', async () => {
  const reg = registry();
  const a = await model('m2', 'aaa');
  const b = await model('m2', 'bbb');
  await reg.register({ kind: 'model', name: 'm2', version: '1', manifest: a });
  await assert.rejects(reg.attach('m2', '1', signStatement(b, wardenKey)), { code: 'WARDEN_ATTESTATION_SUBJECT_MISMATCH' });
  await assert.rejects(reg.register({ kind: 'model', name: 'm2', version: '1', manifest: b }), { code: 'WARDEN_ARTIFACT_EXISTS' });
  await assert.rejects(reg.register({ kind: 'dataset', name: 'm2', version: '2', manifest: await createManifest(join(dir), { kind: 'dataset' }).catch(() => a) }), (e: { code: string }) =>
    ['WARDEN_ARTIFACT_KIND_MISMATCH', 'WARDEN_ARTIFACT_MANIFEST_INVALID'].includes(e.code),
  );
  const untrusted = signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  await assert.rejects(reg.attach('m2', '1', signStatement(a, untrusted)), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });
  // A registration carrying a bad attestation writes nothing at all.
  await assert.rejects(reg.register({ kind: 'model', name: 'm2-new', version: '1', manifest: a, attestations: [signStatement(a, untrusted)] }), { code: 'WARDEN_ATTESTATION_SIGNER_UNTRUSTED' });
  await assert.rejects(reg.show('m2-new'), { code: 'WARDEN_ARTIFACT_NOT_FOUND' });
  assert.equal((await db.query(`SELECT 1 FROM lineage_nodes WHERE key = 'model:m2-new@1'`)).rows.length, 0);
  // Idempotent re-registration with the same digest.
  assert.equal((await reg.register({ kind: 'model', name: 'm2', version: '1', manifest: a })).created, false);
});

test('a signature by a revoked identity fails, at attach time and at promotion after revocation', async () => {
  const reg = registry({ requireScan: false });
  const svid = await makeSvid(ca, 'spiffe://warden.test/train/job-9', { serial: '99' });
  const job = signerFromPrivateKey(svid.keyPem, svid.certPem);
  const m = await model('m3', 'job9');
  await reg.register({ kind: 'model', name: 'm3', version: '1', manifest: m, attestations: [signStatement(m, job)] });
  await reg.approve('m3', '1', 'User::"alice"');
  revoked.add('spiffe://warden.test/train/job-9');
  try {
    await assert.rejects(reg.promote('m3', '1', 'approved'), { code: 'WARDEN_ATTESTATION_SIGNER_REVOKED' });
    await reg.register({ kind: 'model', name: 'm3', version: '2', manifest: await model('m3', 'job9-v2') });
    const m2 = await reg.getManifest('m3', '2');
    await assert.rejects(reg.attach('m3', '2', signStatement(m2, job)), { code: 'WARDEN_ATTESTATION_SIGNER_REVOKED' });
  } finally {
    revoked.delete('spiffe://warden.test/train/job-9');
  }
  assert.equal((await reg.promote('m3', '1', 'approved')).version.stage, 'approved');
});

test('blast radius of a poisoned dataset lists the right model versions and deployments (Warden provenance + OpenLineage)', async () => {
  const reg = registry();
  const dsDir = join(dir, 'reviews');
  mkdirSync(dsDir);
  writeFileSync(join(dsDir, 'train.jsonl'), '{"t":"good","y":1}\n{"t":"bad","y":0}\n');
  const ds = await createManifest(dsDir, { kind: 'dataset' });
  await reg.register({ kind: 'dataset', name: 'reviews', version: '1', manifest: ds, attestations: [signStatement(ds, wardenKey)] });
  writeFileSync(join(dsDir, 'other.jsonl'), '{"t":"x"}\n');
  await reg.register({ kind: 'dataset', name: 'clean', version: '1', manifest: await createManifest(join(dsDir, 'other.jsonl'), { kind: 'dataset' }) });

  // Training run 1 (SLSA provenance signed by the job's SVID): reviews@1 → run-1 → sentiment@1, served.
  const svid = await makeSvid(ca, 'spiffe://warden.test/train/sentiment');
  const job = signerFromPrivateKey(svid.keyPem, svid.certPem);
  const sm = await model('sentiment', 's1');
  const prov = trainingProvenance(versionSubject('sentiment', '1', sm.predicate.warden.rootDigest), {
    builderId: job.spiffeId!,
    runId: 'run-1',
    datasets: [{ name: 'reviews', version: '1', digest: ds.predicate.warden.rootDigest }],
    code: { digest: { sha256: 'f'.repeat(64) } },
    parameters: { epochs: 2 },
  });
  await reg.register({
    kind: 'model', name: 'sentiment', version: '1', manifest: sm,
    attestations: [signStatement(sm, wardenKey), signStatement(scanStatement(versionSubject('sentiment', '1', sm.predicate.warden.rootDigest), scanOf(sm)), wardenKey), signStatement(prov, job)],
  });
  await reg.approve('sentiment', '1', 'User::"alice"');
  await reg.promote('sentiment', '1', 'approved');
  await reg.promote('sentiment', '1', 'serving');

  // A derived dataset and a second model through OpenLineage: reviews@1 → dedupe job → reviews-dedup → run-2 → toxicity@1.
  const olBase = { eventTime: '2026-01-01T00:00:00Z', producer: 'https://github.com/OpenLineage/OpenLineage', schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent' };
  await reg.ingestOpenLineage({ ...olBase, eventType: 'COMPLETE', run: { runId: 'dedupe-1' }, job: { namespace: 'spark', name: 'dedupe' }, inputs: [{ namespace: 's3://lake', name: 'reviews', facets: { version: { datasetVersion: '1' } } }], outputs: [{ namespace: 's3://lake', name: 'reviews-dedup' }] });
  await addSigned(reg, 'toxicity', '1', 'tox1');
  await reg.ingestOpenLineage({ ...olBase, eventType: 'COMPLETE', run: { runId: 'run-2' }, job: { namespace: 'ml', name: 'train-toxicity' }, inputs: [{ namespace: 's3://lake', name: 'reviews-dedup' }], outputs: [{ namespace: 'warden', name: 'toxicity', facets: { version: { datasetVersion: '1' } } }] });
  // An unrelated model trained on the clean dataset only.
  await addSigned(reg, 'unrelated', '1', 'u1');
  await reg.register({ kind: 'model', name: 'unrelated', version: '1', manifest: await reg.getManifest('unrelated', '1'), lineage: { runId: 'run-3', inputs: ['clean@1'] } });

  const br = await reg.blastRadius('reviews');
  assert.deepEqual(br.models.map((m) => m.key).sort(), ['model:sentiment@1', 'model:toxicity@1']);
  assert.deepEqual(br.runs.map((r) => r.key).sort(), ['run:dedupe-1', 'run:run-1', 'run:run-2']);
  assert.deepEqual(br.deployments.map((d) => [d.key, d.servingVersion, d.servingAffected]), [['deployment:sentiment', '1', true]]);
  assert.ok(br.datasets.some((d) => d.key === 'dataset:reviews-dedup'));
  assert.equal(br.models.find((m) => m.key === 'model:sentiment@1')!.stage, 'serving');
  const brClean = await reg.blastRadius('clean@1');
  assert.deepEqual(brClean.models.map((m) => m.key), ['model:unrelated@1']);
  await assert.rejects(reg.blastRadius('sentiment@1'), { code: 'WARDEN_INPUT_INVALID' });

  const up = await reg.lineageOf('sentiment@1', 'upstream');
  assert.deepEqual(up.nodes.map((n) => n.key), ['model:sentiment@1', 'run:run-1', 'dataset:reviews@1', 'dataset:reviews']);
  assert.equal(up.nodes.find((n) => n.key === 'run:run-1')!.attrs.builder, 'spiffe://warden.test/train/sentiment');
  await assert.rejects(reg.lineageOf('dataset:nope', 'downstream'), { code: 'WARDEN_LINEAGE_NODE_NOT_FOUND' });
  await assert.rejects(reg.ingestOpenLineage({ eventType: 'COMPLETE', run: {}, job: {} }), { code: 'WARDEN_LINEAGE_EVENT_INVALID' });
});

test('the gateway admission table refuses a tampered model and serves again after rollback', async () => {
  const reg = registry();
  const v1 = await addSigned(reg, 'llm', '1', 'llm-v1');
  const v2 = await addSigned(reg, 'llm', '2', 'llm-v2');
  for (const v of ['1', '2']) {
    await reg.approve('llm', v, 'User::"alice"');
    await reg.promote('llm', v, 'approved');
  }
  await reg.promote('llm', '1', 'serving');
  const r = await reg.promote('llm', '2', 'serving');
  assert.equal(r.previousServing, 'llm@1');

  let table = await buildAdmissionTable(db, { enforce: false, models: ['strict-model'] });
  assert.deepEqual(admitModel(table, 'llm', undefined, `sha256:${v2.digest}`), { ok: true, version: '2', digest: v2.digest });
  assert.deepEqual(admitModel(table, 'llm', '2', undefined), { ok: true, version: '2', digest: v2.digest });
  const tampered = admitModel(table, 'llm', undefined, 'ab'.repeat(32));
  assert.equal(tampered.ok, false);
  assert.equal(!tampered.ok && tampered.code, 'WARDEN_ADMISSION_DIGEST_MISMATCH');
  assert.equal((admitModel(table, 'llm', '1', undefined) as { code: string }).code, 'WARDEN_ADMISSION_VERSION_NOT_SERVING');
  assert.deepEqual(admitModel(table, 'demo-echo', undefined, undefined), { ok: true, version: null, digest: null });
  assert.equal((admitModel(table, 'strict-model', undefined, undefined) as { code: string }).code, 'WARDEN_ADMISSION_UNREGISTERED');
  assert.equal((admitModel(await buildAdmissionTable(db, { enforce: true }), 'demo-echo', undefined, undefined) as { code: string }).code, 'WARDEN_ADMISSION_UNREGISTERED');

  // Operators revoke the tampered version: nothing serves until rollback.
  await reg.revoke('llm', '2', 'weights tampered on the model server');
  table = await buildAdmissionTable(db);
  assert.equal((admitModel(table, 'llm', undefined, v2.digest) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  assert.equal((admitModel(table, 'llm', '2', undefined) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  await assert.rejects(reg.promote('llm', '2', 'serving'), { code: 'WARDEN_ARTIFACT_STAGE_INVALID' });

  const rb = await reg.rollback('llm');
  assert.deepEqual(rb, { from: null, to: 'llm@1' });
  table = admissionTableFromJson(JSON.parse(JSON.stringify(admissionTableToJson(await buildAdmissionTable(db)))));
  assert.deepEqual(admitModel(table, 'llm', undefined, v1.digest), { ok: true, version: '1', digest: v1.digest });
  assert.equal((admitModel(table, 'llm', undefined, v2.digest) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  await assert.rejects(reg.rollback('llm'), { code: 'WARDEN_ARTIFACT_NO_ROLLBACK_TARGET' });
  const shown = await reg.show('llm');
  assert.deepEqual(shown.versions.map((v) => [v.version, v.stage, v.revoked]), [['1', 'serving', false], ['2', 'retired', true]]);
  assert.equal(shown.versions[0]!.attestations.length, 3);
});

test('rollback from a serving version returns to the previously served approved version', async () => {
  const reg = registry();
  for (const v of ['1', '2', '3']) {
    await addSigned(reg, 'rb', v, `rb-${v}`);
    await reg.approve('rb', v, 'User::"alice"');
    await reg.promote('rb', v, 'approved');
  }
  await reg.promote('rb', '1', 'serving');
  await reg.promote('rb', '3', 'serving');
  assert.deepEqual(await reg.rollback('rb'), { from: 'rb@3', to: 'rb@1' });
  assert.deepEqual((await reg.list('model')).find((a) => a.name === 'rb'), { name: 'rb', kind: 'model', versions: 3, serving: '1', latest: '3' });
});

test('deployModel approvals are decided by the Cedar engine with Warden schema (groups, model hierarchy, version attributes)', async () => {
  const { compilePolicySet } = await import('../../src/policy/index.js');
  const { readFileSync } = await import('node:fs');
  const schemaText = readFileSync(new URL('../../examples/policies/schema.cedarschema', import.meta.url), 'utf8');
  const cedar = compilePolicySet(
    `@id("ml-leads-deploy-fraud")
     permit(principal in Group::"ml-leads", action == Action::"deployModel", resource in Model::"fraud")
     when { context.region == "local" };
     @id("no-tampered-digests")
     forbid(principal, action == Action::"deployModel", resource is ModelVersion)
     when { resource has digest && resource.digest == "${'0'.repeat(64)}" };`,
    {
      schemaText,
      entities: [
        { uid: { type: 'Group', id: 'ml-leads' } },
        { uid: { type: 'User', id: 'alice' }, parents: [{ type: 'Group', id: 'ml-leads' }] },
        { uid: { type: 'User', id: 'bob' } },
        { uid: { type: 'Model', id: 'fraud' } },
        { uid: { type: 'Model', id: 'other' } },
      ],
    },
  );
  const verifier = new AttestationVerifier({ publicKeys: [wardenKey.publicKey] });
  const reg = new ArtifactRegistry(db, { verifier, authorizer: cedar, signer: wardenKey, promotion: { requireSignature: true, requireScan: true, requireApproval: true, failOn: 'high' } });
  await addSigned(reg, 'fraud', '1', 'fraud-v1');
  await addSigned(reg, 'other', '1', 'other-v1');
  const approval = await reg.approve('fraud', '1', 'User::"alice"');
  assert.equal(approval.predicateType, 'https://warden.dev/attestations/approval/v1');
  await assert.rejects(reg.approve('fraud', '1', 'User::"bob"'), { code: 'WARDEN_ARTIFACT_APPROVER_DENIED' });
  await assert.rejects(reg.approve('other', '1', 'User::"alice"'), { code: 'WARDEN_ARTIFACT_APPROVER_DENIED' });
  await assert.rejects(reg.approve('fraud', '1', 'User::"alice"', undefined, { region: 'eu-west-1' }), { code: 'WARDEN_ARTIFACT_APPROVER_DENIED' });
  assert.equal((await reg.promote('fraud', '1', 'approved')).version.stage, 'approved');
});

test('a frozen dataset: no model is registered from it, no provenance naming it is attached, nothing derived from it is promoted', async () => {
  const { frozenDatasetCheck } = await import('../../src/respond/index.js');
  const reg = registry({}, undefined, { frozenDatasets: frozenDatasetCheck(db) });
  const dsDir = join(dir, 'frozen-ds');
  mkdirSync(dsDir);
  writeFileSync(join(dsDir, 'rows.csv'), 'a,b\n1,2\n');
  const ds = await createManifest(dsDir, { kind: 'dataset' });
  await reg.register({ kind: 'dataset', name: 'labels', version: '1', manifest: ds });
  // Derived before the freeze, signed, scanned and approved: promotable until the freeze.
  const m = await model('labeler', 'l1');
  const digest = m.predicate.warden.rootDigest;
  await reg.register({ kind: 'model', name: 'labeler', version: '1', manifest: m, attestations: [signStatement(m, wardenKey), signStatement(scanStatement(versionSubject('labeler', '1', digest), scanOf(m)), wardenKey)], lineage: { runId: 'label-run-1', inputs: ['labels@1'] } });
  await reg.approve('labeler', '1', 'User::"alice"');
  assert.equal((await reg.blastRadius('labels@1')).frozen, false);

  await db.query(`INSERT INTO respond_frozen_datasets (name, frozen_at, frozen_by, incident_id) VALUES ('labels', now(), 'test', NULL)`);
  assert.equal((await reg.blastRadius('labels@1')).frozen, true, 'freezing the name covers every version');
  await assert.rejects(reg.promote('labeler', '1', 'approved'), (e: { code?: string }) => e.code === 'WARDEN_ARTIFACT_DATASET_FROZEN');
  const m2 = await model('labeler', 'l2');
  await assert.rejects(reg.register({ kind: 'model', name: 'labeler', version: '2', manifest: m2, lineage: { inputs: ['labels@7'] } }), (e: { code?: string }) => e.code === 'WARDEN_ARTIFACT_DATASET_FROZEN');
  await reg.register({ kind: 'model', name: 'labeler', version: '3', manifest: m2 });
  const prov = trainingProvenance(versionSubject('labeler', '3', m2.predicate.warden.rootDigest), { builderId: 'spiffe://warden.test/train/l', runId: 'label-run-3', datasets: [{ name: 'labels', version: '1', digest: ds.predicate.warden.rootDigest }], code: { digest: { sha256: 'e'.repeat(64) } }, parameters: {} });
  await assert.rejects(reg.attach('labeler', '3', signStatement(prov, wardenKey)), (e: { code?: string }) => e.code === 'WARDEN_ARTIFACT_DATASET_FROZEN');
  // Once the freeze is lifted, the same promotion goes through.
  await db.query(`DELETE FROM respond_frozen_datasets WHERE name = 'labels'`);
  assert.equal((await reg.promote('labeler', '1', 'approved')).version.stage, 'approved');
});

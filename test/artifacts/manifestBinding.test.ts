import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Database } from '../../src/store/index.js';
import { scanPaths, scanFile } from '../../src/scan/index.js';
import {
  ArtifactRegistry,
  ApproverListAuthorizer,
  AttestationVerifier,
  createManifest,
  createScannedManifest,
  parseManifest,
  signStatement,
  signerFromPrivateKey,
  scanStatement,
  trainingProvenance,
  versionSubject,
  type Manifest,
  type ScanReportLike,
} from '../../src/artifacts/index.js';

// Scan coverage and signed-manifest binding, with real manifests, real scans and real signatures.
let db: Database;
let dir: string;
const wardenKey = signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

before(async () => {
  db = await openStore({});
  dir = mkdtempSync(join(tmpdir(), 'warden-binding-'));
});
after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

function registry(): ArtifactRegistry {
  return new ArtifactRegistry(db, {
    verifier: new AttestationVerifier({ publicKeys: [wardenKey.publicKey], caCertificates: [], isRevoked: () => false }),
    authorizer: new ApproverListAuthorizer(['User::"alice"']),
    signer: wardenKey,
    promotion: { requireSignature: true, requireScan: true, requireApproval: true, failOn: 'high' },
  });
}

/** A pickle whose GLOBAL imports posix.system: the scanner flags it critical. */
const EVIL_PICKLE = Buffer.from('\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idq\x00\x85R.', 'latin1');

function modelDir(name: string, files: Record<string, string | Buffer>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, content] of Object.entries(files)) writeFileSync(join(d, f), content);
  return d;
}

async function scanReport(paths: string | string[], options: { shardSizeBytes?: number } = {}): Promise<ScanReportLike> {
  return (await scanPaths(Array.isArray(paths) ? paths : [paths], options)) as unknown as ScanReportLike;
}

/** A pickle over 200 bytes (so it is sharded at shard size 100); `evil` makes it call posix.system. */
function bigPickle(evil: boolean): Buffer {
  const arg = Buffer.from(`echo ${'a'.repeat(220)}`, 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(arg.length);
  const str = Buffer.concat([Buffer.from('X', 'latin1'), len, arg]);
  return evil
    ? Buffer.concat([Buffer.from('\x80\x02cposix\nsystem\n', 'latin1'), str, Buffer.from('\x85R.', 'latin1')])
    : Buffer.concat([Buffer.from('\x80\x02', 'latin1'), str, Buffer.from('.', 'latin1')]);
}

test('parseManifest refuses subjects or files that disagree with the resources', async () => {
  const d = modelDir('consistency', { 'model.json': '{"w":[1,2]}', 'extra.pkl': EVIL_PICKLE, 'b.bin': 'x'.repeat(300) });
  const honest = await createManifest(d, { kind: 'model' });
  parseManifest(honest);
  const sharded = await createManifest(d, { kind: 'model', shardSizeBytes: 100 });
  assert.equal(sharded.predicate.serialization.method, 'shards');
  parseManifest(sharded);

  const mutate = (base: Manifest, change: (m: Manifest) => void) => {
    const m = structuredClone(base);
    change(m);
    return m;
  };
  const cases: [string, Manifest][] = [
    ['subject leaves a file out', mutate(honest, (m) => (m.subject = m.subject.filter((s) => s.name !== 'extra.pkl')))],
    ['files leave a file out', mutate(honest, (m) => (m.predicate.warden.files = m.predicate.warden.files.filter((f) => f.path !== 'extra.pkl')))],
    ['both leave a file out', mutate(honest, (m) => {
      m.subject = m.subject.filter((s) => s.name !== 'extra.pkl');
      m.predicate.warden.files = m.predicate.warden.files.filter((f) => f.path !== 'extra.pkl');
    })],
    ['a subject has another digest', mutate(honest, (m) => (m.subject[0]!.digest = { sha256: 'a'.repeat(64) }))],
    ['a subject has an extra digest', mutate(honest, (m) => (m.subject[0]!.digest = { ...m.subject[0]!.digest, sha512: 'a'.repeat(64) }))],
    ['a subject is renamed', mutate(honest, (m) => (m.subject[0]!.name = 'other.bin'))],
    ['a file is listed twice', mutate(honest, (m) => (m.predicate.warden.files[1] = { ...m.predicate.warden.files[0]! }))],
    ['a sharded file claims a whole-file digest', mutate(sharded, (m) => (m.subject.find((s) => s.name === 'b.bin')!.digest = { sha256: 'a'.repeat(64) }))],
    ['a sharded file has a wrong size', mutate(sharded, (m) => (m.predicate.warden.files.find((f) => f.path === 'b.bin')!.size = 99))],
    ['a sharded file claims a huge size', mutate(sharded, (m) => (m.predicate.warden.files.find((f) => f.path === 'b.bin')!.size = 1e15))],
  ];
  for (const [what, m] of cases) assert.throws(() => parseManifest(m), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID' }, what);

  const ds = await createManifest(modelDir('ds', { 'rows.jsonl': '{"a":1}\n{"a":2}\n' }), { kind: 'dataset' });
  parseManifest(ds);
  assert.throws(() => parseManifest(mutate(ds, (m) => (m.predicate.warden.datasets![0]!.path = 'elsewhere.jsonl'))), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID' });
});

test('a registration cannot hide a file from scan coverage behind an unsigned subject list (r4)', { timeout: 60_000 }, async () => {
  const reg = registry();
  const d = modelDir('r4', { 'model.json': '{"w":[1,2]}', 'extra.pkl': EVIL_PICKLE });
  const honest = await createManifest(d, { kind: 'model' });
  const root = honest.predicate.warden.rootDigest;

  // Honest flow: the full scan finds the pickle, promotion is refused.
  const full = await scanReport(d);
  assert.ok(full.files.some((f) => f.findings.some((x) => x.rule === 'pickle/dangerous-global')));
  await reg.register({ kind: 'model', name: 'r4', version: '1', manifest: honest, attestations: [signStatement(honest, wardenKey), signStatement(scanStatement(versionSubject('r4', '1', root), full), wardenKey)] });
  await reg.approve('r4', '1', 'User::"alice"');
  await assert.rejects(reg.promote('r4', '1', 'approved'), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /pickle\/dangerous-global/ });

  // The attack: the body manifest lists model.json only (same resources, same root digest), with a real scan of model.json.
  const partialScan = await scanReport(join(d, 'model.json'));
  const body = structuredClone(honest);
  body.subject = body.subject.filter((s) => s.name === 'model.json');
  body.predicate.warden.files = body.predicate.warden.files.filter((f) => f.path === 'model.json');
  const atts = [signStatement(honest, wardenKey), signStatement(scanStatement(versionSubject('r4', '2', root), partialScan), wardenKey)];
  await assert.rejects(reg.register({ kind: 'model', name: 'r4', version: '2', manifest: body, attestations: atts }), { code: 'WARDEN_ARTIFACT_MANIFEST_INVALID' });
  await assert.rejects(reg.getVersion('r4', '2'), { code: 'WARDEN_ARTIFACT_NOT_FOUND' });

  // A consistent body that still differs from the signed manifest is refused too: what is stored is what was signed.
  const resized = structuredClone(honest);
  resized.predicate.warden.files[0]!.size += 1;
  await assert.rejects(reg.register({ kind: 'model', name: 'r4', version: '2', manifest: resized, attestations: atts }), { code: 'WARDEN_ATTESTATION_SUBJECT_MISMATCH' });
  await reg.register({ kind: 'model', name: 'r4', version: '3', manifest: resized });
  await assert.rejects(reg.attach('r4', '3', signStatement(honest, wardenKey)), { code: 'WARDEN_ATTESTATION_SUBJECT_MISMATCH' });

  // With the honest body, the scan of model.json alone does not cover extra.pkl.
  await reg.register({ kind: 'model', name: 'r4', version: '2', manifest: honest, attestations: atts });
  assert.deepEqual(await reg.getManifest('r4', '2'), honest);
  await reg.approve('r4', '2', 'User::"alice"');
  await assert.rejects(reg.promote('r4', '2', 'approved'), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /does not cover extra\.pkl/ });
  assert.equal((await reg.getVersion('r4', '2')).stage, 'candidate');
});

test('the scanner reports the digest in a sharded manifest\'s layout, from the one pass it hashes', async () => {
  const d = modelDir('shards-digest', { 'big.pkl': bigPickle(false), 'small.json': '{}' });
  const m = await createManifest(d, { kind: 'model', shardSizeBytes: 100 });
  const big = (await scanFile(join(d, 'big.pkl'), { shardSizeBytes: 100 }));
  assert.deepEqual(big.sha256Shards, { shardSize: 100, digest: m.subject.find((s) => s.name === 'big.pkl')!.digest['sha256-shards'] });
  assert.equal(big.sha256, (await scanFile(join(d, 'big.pkl'))).sha256);
  assert.equal((await scanFile(join(d, 'big.pkl'))).sha256Shards, undefined);
  const small = await scanFile(join(d, 'small.json'), { shardSizeBytes: 100 });
  assert.equal(small.sha256Shards, undefined);
  assert.equal(small.sha256, m.subject.find((s) => s.name === 'small.json')!.digest.sha256);
  // A shard size that is a multiple of the read size, and one equal to the file size.
  const size = readFileSync(join(d, 'big.pkl')).length;
  assert.equal((await scanFile(join(d, 'big.pkl'), { shardSizeBytes: size })).sha256Shards, undefined);
  const m2 = await createManifest(d, { kind: 'model', shardSizeBytes: size - 1 });
  assert.equal((await scanFile(join(d, 'big.pkl'), { shardSizeBytes: size - 1 })).sha256Shards!.digest, m2.subject.find((s) => s.name === 'big.pkl')!.digest['sha256-shards']);
  await assert.rejects(scanFile(join(d, 'big.pkl'), { shardSizeBytes: 0 }), { code: 'WARDEN_INPUT_INVALID' });
});

test('a scan of other bytes with the same names does not cover a sharded file (r8)', { timeout: 60_000 }, async () => {
  const reg = registry();
  const evil = modelDir('r8/evil', { 'weights.pkl': bigPickle(true), 'config.json': '{"a":1}' });
  const clean = modelDir('r8/clean', { 'weights.pkl': bigPickle(false), 'config.json': '{"a":1}' });
  const asIfEvil = (r: ScanReportLike) => ({ ...r, files: r.files.map((f) => ({ ...f, path: f.path.replace(clean, evil) })) });
  const attempt = async (version: string, shardSizeBytes: number | undefined, report: ScanReportLike) => {
    const m = await createManifest(evil, { kind: 'model', ...(shardSizeBytes ? { shardSizeBytes } : {}) });
    const root = m.predicate.warden.rootDigest;
    await reg.register({ kind: 'model', name: 'r8', version, manifest: m, attestations: [signStatement(m, wardenKey), signStatement(scanStatement(versionSubject('r8', version, root), report), wardenKey)] });
    await reg.approve('r8', version, 'User::"alice"');
    return reg.promote('r8', version, 'approved');
  };
  // Unsharded: the whole-file SHA-256 differs.
  await assert.rejects(attempt('1', undefined, asIfEvil(await scanReport(clean))), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /weights\.pkl/ });
  // Sharded: a scan without shard digests, and one with the shard digests of other bytes, are both refused.
  await assert.rejects(attempt('2', 100, asIfEvil(await scanReport(clean))), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /sha256Shards at shard size 100 matching weights\.pkl/ });
  await assert.rejects(attempt('3', 100, asIfEvil(await scanReport(clean, { shardSizeBytes: 100 }))), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /weights\.pkl/ });
  await assert.rejects(attempt('4', 100, asIfEvil(await scanReport(clean, { shardSizeBytes: 50 }))), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /weights\.pkl/ });
  // The honest scan of the evil bytes covers the sharded file, and its finding blocks.
  await assert.rejects(attempt('5', 100, await scanReport(evil, { shardSizeBytes: 100 })), { code: 'WARDEN_ARTIFACT_SCAN_REQUIRED', message: /pickle\/dangerous-global/ });
  // A clean sharded model scanned the same way is promoted.
  const m = await createManifest(clean, { kind: 'model', shardSizeBytes: 100 });
  const root = m.predicate.warden.rootDigest;
  await reg.register({ kind: 'model', name: 'r8-clean', version: '1', manifest: m, attestations: [signStatement(m, wardenKey), signStatement(scanStatement(versionSubject('r8-clean', '1', root), await scanReport(clean, { shardSizeBytes: 100 })), wardenKey)] });
  await reg.approve('r8-clean', '1', 'User::"alice"');
  assert.equal((await reg.promote('r8-clean', '1', 'approved')).version.stage, 'approved');
});

test('artifact add: a file rewritten between hashing and scanning is refused, not signed with a scan of other bytes', async () => {
  for (const shardSizeBytes of [undefined, 100]) {
    const d = modelDir(`add-race-${shardSizeBytes}`, { 'weights.pkl': bigPickle(true), 'config.json': '{"a":1}' });
    const opts = { kind: 'model' as const, ...(shardSizeBytes ? { shardSizeBytes } : {}) };
    // The scanner as `artifact add` wires it, but the file is swapped for clean bytes just before it runs.
    const swapThenScan = async (paths: string[], o: { shardSizeBytes?: number }) => {
      writeFileSync(join(d, 'weights.pkl'), bigPickle(false));
      return scanReport(paths, o);
    };
    await assert.rejects(createScannedManifest(d, opts, swapThenScan, 'm@1'), { code: 'WARDEN_ARTIFACT_DIGEST_MISMATCH' });
    // Unchanged files: the manifest and the scan describe the same bytes.
    const { manifest, report } = await createScannedManifest(d, opts, (p, o) => scanReport(p, o), 'm@1');
    assert.equal(manifest.predicate.serialization.method, shardSizeBytes ? 'shards' : 'files');
    assert.ok(report.files.every((f) => f.findings.length === 0));
  }
});

test('an attestation must name the version it is about: NAME@VERSION with its digest, not just the digest', async () => {
  const reg = registry();
  const m = await createManifest(modelDir('named', { 'model.json': '{"w":[3]}' }), { kind: 'model' });
  const digest = m.predicate.warden.rootDigest;
  await reg.register({ kind: 'model', name: 'iris', version: '5', manifest: m });
  const provenance = (subject: { name: string; digest: Record<string, string> }[], runId: string) =>
    signStatement(trainingProvenance(subject, { builderId: 'spiffe://warden.test/train/j', runId, datasets: [{ name: 'flowers', version: '1', digest: 'c'.repeat(64) }], code: { digest: { sha256: 'e'.repeat(64) } }, parameters: {} }), wardenKey);
  const refused = [
    provenance(versionSubject('other-model', '7', digest), 'run-other'),
    provenance(versionSubject('iris', '6', digest), 'run-v6'),
    provenance(versionSubject('iris', '5', 'f'.repeat(64)), 'run-other-bytes'),
    // A file-like subject that happens to carry the digest does not count either.
    provenance([{ name: 'model.json', digest: { sha256: digest } }], 'run-file'),
  ];
  for (const bundle of refused) await assert.rejects(reg.attach('iris', '5', bundle), { code: 'WARDEN_ATTESTATION_SUBJECT_MISMATCH' });
  await assert.rejects(reg.register({ kind: 'model', name: 'iris', version: '5', manifest: m, attestations: [refused[0]] }), { code: 'WARDEN_ATTESTATION_SUBJECT_MISMATCH' });
  const scanOfOther = signStatement(scanStatement(versionSubject('other-model', '7', digest), { files: [] }), wardenKey);
  await assert.rejects(reg.attach('iris', '5', scanOfOther), { code: 'WARDEN_ATTESTATION_SUBJECT_MISMATCH' });
  const upstream = async () => (await reg.lineageOf('iris@5', 'upstream')).nodes.map((n) => n.key);
  assert.deepEqual((await upstream()).filter((k) => k.startsWith('run:')), []);
  assert.equal((await reg.attestations('iris@5')).length, 0);

  // The CLI's own subject (versionSubject) is accepted, and its run is linked.
  await reg.attach('iris', '5', provenance(versionSubject('iris', '5', digest), 'run-iris-5'));
  assert.deepEqual((await upstream()).filter((k) => k.startsWith('run:')), ['run:run-iris-5']);
  await reg.approve('iris', '5', 'User::"alice"');
  assert.equal((await reg.attestations('iris@5')).length, 2);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename, join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { FileCertificateAuthority, createWorkloadKey } from '../../src/identity/index.js';
import { intermediateCertName, intermediateCertPath, legacyIntermediateCertName } from '../../src/identity/caFileNames.js';
import { tempDir } from './helpers/controlPlane.js';

const TD = 'example.org';
const DAY = 86_400_000;

function state(dir: string): { generations: { id: string; status: string; intermediate: number }[] } {
  return JSON.parse(readFileSync(join(dir, 'ca', 'authority.json'), 'utf8'));
}

/** An X.509-SVID's chain verifies up to a root of the bundle, the way a relying party checks it. */
async function assertSvidVerifies(ca: FileCertificateAuthority): Promise<void> {
  const svid = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: `spiffe://${TD}/w` });
  const [leaf, intermediate] = x509PemList(svid.chainPem).map((p) => new X509Certificate(p));
  const roots = x509PemList(svid.bundlePem).map((p) => new X509Certificate(p));
  assert.ok(leaf!.verify(intermediate!.publicKey), 'the SVID is signed by the key of the intermediate in its chain');
  assert.ok(roots.some((r) => intermediate!.verify(r.publicKey)), 'the intermediate is signed by a root of the bundle');
}

function x509PemList(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Makes the commit of authority.json fail the way a crash at that rename leaves the disk: every
 * file the renewal wrote before it is in place, authority.json is the old one. Returns the undo.
 */
function failCommitOfAuthorityJson(): () => void {
  const real = fs.renameSync;
  fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    if (basename(String(to)) === 'authority.json') throw Object.assign(new Error('simulated crash'), { code: 'EIO' });
    real(from, to);
  };
  syncBuiltinESMExports();
  return () => {
    fs.renameSync = real;
    syncBuiltinESMExports();
  };
}

/** Renews the intermediate 16 days on (past its half-life) and crashes at the commit. */
async function crashDuringIntermediateRenewal(t: TestContext, dir: string): Promise<void> {
  const realNow = Date.now.bind(Date);
  const clock = t.mock.method(Date, 'now', () => realNow() + 16 * DAY);
  const undo = failCommitOfAuthorityJson();
  try {
    await assert.rejects(FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD }), { code: 'WARDEN_IO' });
  } finally {
    undo();
    clock.mock.restore();
  }
}

test('an intermediate renewal cut off before authority.json is committed: the CA reopens with the committed intermediate and its SVIDs verify', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  const committedPem = first.intermediatePem();
  await first.close();
  const { id } = state(dir).generations[0]!;

  await crashDuringIntermediateRenewal(t, dir);
  // The crash state: the renewal's key is on disk, authority.json still names intermediate 1.
  assert.equal(state(dir).generations[0]!.intermediate, 1);
  assert.ok(existsSync(join(dir, 'ca', 'keys', `${id}-intermediate-2.key`)));

  // Restart now: intermediate 1 (certificate and key) is what the CA signs with.
  const reopened = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  assert.equal(reopened.intermediatePem(), committedPem);
  await assertSvidVerifies(reopened);
  await reopened.close();

  // Restart 16 days on: the renewal is redone and committed; SVIDs chain to the new intermediate.
  const realNow = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => realNow() + 16 * DAY);
  const renewed = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  assert.equal(state(dir).generations[0]!.intermediate, 2);
  assert.notEqual(renewed.intermediatePem(), committedPem);
  await assertSvidVerifies(renewed);
  await renewed.close();
});

test('an intermediate certificate that does not belong to its key is refused at open with WARDEN_IDENTITY_CA_STATE_INVALID', async (t) => {
  const dir = tempDir();
  const other = tempDir();
  t.after(() => [dir, other].forEach((d) => rmSync(d, { recursive: true, force: true })));
  await (await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD })).close();
  await (await FileCertificateAuthority.open({ dataDir: other, trustDomain: TD })).close();
  const { id, intermediate } = state(dir).generations[0]!;
  const o = state(other).generations[0]!;
  // Another CA's intermediate in place of ours: same names and issuer shape, another key.
  const file = intermediateCertPath(join(dir, 'ca'), id, intermediate);
  writeFileSync(file, readFileSync(intermediateCertPath(join(other, 'ca'), o.id, o.intermediate)));
  await assert.rejects(FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'WARDEN_IDENTITY_CA_STATE_INVALID');
    assert.match(err.message, new RegExp(`intermediate certificate .*${basename(file)} does not belong to CA key ${id}-intermediate-${intermediate}`));
    assert.doesNotMatch(err.message, /PRIVATE KEY/);
    return true;
  });
});

test('a CA key a certificate names is loaded, never re-created: a missing one fails with WARDEN_IDENTITY_CA_KEY_INVALID', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await (await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD })).close();
  const { id, intermediate } = state(dir).generations[0]!;
  for (const key of [`${id}-root.key`, `${id}-intermediate-${intermediate}.key`]) {
    const path = join(dir, 'ca', 'keys', key);
    const saved = readFileSync(path);
    rmSync(path);
    await assert.rejects(FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD }), { code: 'WARDEN_IDENTITY_CA_KEY_INVALID' });
    assert.equal(existsSync(path), false, `${key} was not replaced by a new key`);
    writeFileSync(path, saved, { mode: 0o600 });
  }
  await (await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD })).close();
});

test('a data dir from before numbered intermediates (<gen>-intermediate.pem) still loads, and its next renewal is numbered', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  const pem = first.intermediatePem();
  await first.close();
  const { id } = state(dir).generations[0]!;
  renameSync(join(dir, 'ca', intermediateCertName(id, 1)), join(dir, 'ca', legacyIntermediateCertName(id)));

  const legacy = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  assert.equal(legacy.intermediatePem(), pem);
  await assertSvidVerifies(legacy);
  await legacy.close();

  const realNow = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => realNow() + 16 * DAY);
  const renewed = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  assert.equal(state(dir).generations[0]!.intermediate, 2);
  assert.ok(existsSync(join(dir, 'ca', intermediateCertName(id, 2))));
  await assertSvidVerifies(renewed);
  await renewed.close();
});

test('open removes leftover temp files and the files of abandoned generations and superseded intermediates; everything authority.json names stays', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  await ca.rotate(); // the first generation is now retired, still valid and in the bundle
  const bundle = ca.bundlePem();
  await ca.close();
  const [retired, active] = state(dir).generations;
  assert.equal(retired!.status, 'retired');
  const caDir = join(dir, 'ca');
  const keysDir = join(caDir, 'keys');
  const referenced = [...readdirSync(caDir), ...readdirSync(keysDir).map((f) => join('keys', f))].filter((f) => f !== 'keys');

  const copy = (from: string, to: string) => writeFileSync(join(caDir, to), readFileSync(join(caDir, from)), { mode: 0o600 });
  const leftovers = [
    // A generation created before a crash at the commit of authority.json (first start or rotation).
    ...[`${active!.id}-root.pem`, `${active!.id}-intermediate-1.pem`].map((f) => [f, f.replace(active!.id, 'gabandoned1')]),
    ...['root', 'intermediate-1', 'jwt-es256'].map((k) => [`keys/${active!.id}-${k}.key`, `keys/gabandoned1-${k}.key`]),
    // An intermediate renewal cut off before its commit, and the un-numbered file a numbered one replaced.
    [`${active!.id}-intermediate-1.pem`, `${active!.id}-intermediate-2.pem`],
    [`keys/${active!.id}-intermediate-1.key`, `keys/${active!.id}-intermediate-2.key`],
    [`${retired!.id}-intermediate-1.pem`, `${retired!.id}-intermediate.pem`],
    // writeFileAtomic temp files of a kill between write and rename.
    ['authority.json', '.authority.json.0123456789ab.tmp'],
    [`keys/${active!.id}-root.key`, `keys/.${active!.id}-root.key.a1b2c3d4e5f6.tmp`],
  ] as const;
  for (const [from, to] of leftovers) copy(from, to);
  // Not ours, or not of writeFileAtomic's shape: never touched.
  const foreign = ['README', '.authority.json.tmp', 'backup-root.pem', 'keys/operator-notes.txt', 'keys/.x.key.0123456789ab.tmp'];
  for (const f of foreign.slice(0, -1)) writeFileSync(join(caDir, f), 'x');
  mkdirSync(join(caDir, foreign.at(-1)!));

  const reopened = await FileCertificateAuthority.open({ dataDir: dir, trustDomain: TD });
  for (const [, to] of leftovers) assert.equal(existsSync(join(caDir, to)), false, `${to} was removed`);
  for (const f of [...referenced, ...foreign]) assert.ok(existsSync(join(caDir, f)), `${f} was kept`);
  assert.equal(reopened.bundlePem(), bundle, 'the retired root stays in the bundle');
  await assertSvidVerifies(reopened);
  await reopened.close();
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { SignJWT, decodeProtectedHeader } from 'jose';
import { X509Certificate } from 'node:crypto';
import { pemCertificateBlocks } from '../../src/identity/x509.js';
import { openStore } from '../../src/store/index.js';
import { loadOrCreateAuthority, verifyPeerSvid, verifyJwtSvid, createWorkloadKey, normalizeSerial, TrustBundle, REVOCATION_KEPT_AFTER_EXPIRY_MS } from '../../src/identity/index.js';
import { tempDir } from './helpers/controlPlane.js';
import { x509, loadIntermediate, caKeyFiles, mintLeaf } from './helpers/fixtures.js';

const TD = 'example.org';

test('CA files: keys 0600 in a 0700 dir, bundle.pem 0644; reopening keeps the CA; another trust domain is refused', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  assert.equal(statSync(join(dir, 'bundle.pem')).mode & 0o777, 0o644);
  assert.equal(statSync(join(dir, 'ca', 'keys')).mode & 0o777, 0o700);
  const keys = caKeyFiles(dir);
  assert.ok(keys.length >= 3, 'root, intermediate and JWT keys');
  for (const k of keys) assert.equal(statSync(k).mode & 0o777, 0o600, k);
  assert.equal(readFileSync(join(dir, 'bundle.pem'), 'utf8'), ca.bundlePem());
  const again = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  assert.equal(again.bundlePem(), ca.bundlePem());
  await assert.rejects(loadOrCreateAuthority({ dataDir: dir, trustDomain: 'other.org' }), { code: 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH' });
  // The root and intermediate are proper CAs.
  const root = new x509.X509Certificate(ca.bundlePem());
  assert.equal(root.getExtension(x509.BasicConstraintsExtension)?.ca, true);
  const inter = new x509.X509Certificate(ca.intermediatePem());
  assert.equal(inter.getExtension(x509.BasicConstraintsExtension)?.pathLength, 0);
  assert.ok(await inter.verify({ publicKey: root.publicKey, signatureOnly: true }));
});

test('X.509-SVID from a CSR conforms to the SPIFFE X.509-SVID spec', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  const key = createWorkloadKey();
  const svid = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://example.org/ns/ml/sa/trainer' });
  const cert = new x509.X509Certificate(svid.certPem);
  const uris = cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.items.filter((n) => n.type === 'url');
  assert.deepEqual(uris.map((u) => u.value), ['spiffe://example.org/ns/ml/sa/trainer']);
  const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
  assert.equal(bc.ca, false);
  assert.equal(bc.critical, true);
  const ku = cert.getExtension(x509.KeyUsagesExtension)!;
  assert.equal(ku.usages, x509.KeyUsageFlags.digitalSignature);
  assert.equal(ku.critical, true);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
  assert.deepEqual([...eku.usages].sort(), [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth].sort());
  // Default TTL 1 h (+ the 30 s backdating of notBefore for skew).
  assert.equal((svid.notAfter.getTime() - svid.notBefore.getTime()) / 1000, 3600 + 30);
  assert.equal(cert.serialNumber.replace(/^0+/, ''), svid.serial);
  // The public key is the CSR's: the private key never left the workload.
  const { X509Certificate, createPrivateKey } = await import('node:crypto');
  assert.ok(new X509Certificate(svid.certPem).checkPrivateKey(createPrivateKey(key.keyPem)));
  assert.ok(await cert.verify({ publicKey: new x509.X509Certificate(ca.intermediatePem()).publicKey, signatureOnly: true }));
  // chain = leaf + intermediate
  assert.equal(svid.chainPem, svid.certPem + ca.intermediatePem());

  const short = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://example.org/a', ttlSeconds: 120 });
  assert.equal((short.notAfter.getTime() - short.notBefore.getTime()) / 1000, 150);
  await assert.rejects(ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://example.org/a', ttlSeconds: 10 ** 7 }), { code: 'WARDEN_IDENTITY_TTL_INVALID' });
  await assert.rejects(ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://other.org/a' }), { code: 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH' });
  await assert.rejects(ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://example.org/a/../b' }), { code: 'WARDEN_IDENTITY_SPIFFE_ID_INVALID' });
});

test('tampered, malformed, oversized and RSA CSRs are refused with WARDEN_IDENTITY_CSR_INVALID', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  const { csrPem } = createWorkloadKey();
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  // Flip one bit inside the public key (a tampered CSR): the self-signature no longer matches.
  const tampered = Buffer.from(der);
  tampered[40] = tampered[40]! ^ 0x01;
  const spiffeId = 'spiffe://example.org/w';
  await assert.rejects(ca.issueX509SvidFromCsr(tampered, { spiffeId }), { code: 'WARDEN_IDENTITY_CSR_INVALID' });
  // Swap the signature with another CSR's.
  const other = Buffer.from(createWorkloadKey().csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const spliced = Buffer.concat([der.subarray(0, der.length - 72), other.subarray(other.length - 72)]);
  await assert.rejects(ca.issueX509SvidFromCsr(spliced, { spiffeId }), { code: 'WARDEN_IDENTITY_CSR_INVALID' });
  await assert.rejects(ca.issueX509SvidFromCsr('not a csr', { spiffeId }), { code: 'WARDEN_IDENTITY_CSR_INVALID' });
  await assert.rejects(ca.issueX509SvidFromCsr(der.subarray(0, 50), { spiffeId }), { code: 'WARDEN_IDENTITY_CSR_INVALID' });
  await assert.rejects(ca.issueX509SvidFromCsr('x'.repeat(20_000), { spiffeId }), { code: 'WARDEN_IDENTITY_CSR_INVALID' });
  const rsa = spawnSync('sh', ['-c', 'openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj /O=x 2>/dev/null'], { encoding: 'utf8' }).stdout;
  await assert.rejects(ca.issueX509SvidFromCsr(rsa, { spiffeId }), { code: 'WARDEN_IDENTITY_CSR_INVALID' });
  // An OpenSSL-made EC CSR is accepted (interop).
  const ec = spawnSync('sh', ['-c', 'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=ignored 2>/dev/null'], { encoding: 'utf8' }).stdout;
  assert.equal((await ca.issueX509SvidFromCsr(ec, { spiffeId })).spiffeId, spiffeId);
});

test('server certificates verify with Node tls (ca: bundlePem) and openssl verify', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  const s = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  writeFileSync(join(dir, 'chain.pem'), s.chainPem);
  writeFileSync(join(dir, 'leaf.pem'), s.certPem);
  const out = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'bundle.pem'), '-untrusted', join(dir, 'chain.pem'), '-purpose', 'sslserver', join(dir, 'leaf.pem')], { encoding: 'utf8' });
  assert.match(out, /OK/);
  const server = createServer({ key: s.keyPem, cert: s.chainPem, minVersion: 'TLSv1.2' }, (sock) => sock.end('hi'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  for (const servername of ['localhost', undefined]) {
    const got = await new Promise<string>((resolve, reject) => {
      const c: TLSSocket = connect({ host: '127.0.0.1', port, ca: ca.bundlePem(), servername }, () => undefined);
      let data = '';
      c.on('data', (d) => (data += d));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    assert.equal(got, 'hi');
  }
});

test('verifyPeerSvid accepts a conforming SVID and rejects every non-conforming one with a stable code', async (t) => {
  const dir = tempDir();
  const otherDir = tempDir();
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(otherDir, { recursive: true, force: true });
  });
  const db = await openStore({});
  t.after(() => db.close());
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD, db });
  const bundle = ca.bundlePem();
  const issuer = await loadIntermediate(dir);
  const good = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/good' });
  const ok = verifyPeerSvid(good.chainPem, bundle, ca.revocations, TD);
  assert.deepEqual([ok.spiffeId, ok.serial], ['spiffe://example.org/good', good.serial]);
  assert.equal(verifyPeerSvid(good.chainPem, new TrustBundle(bundle), null, TD).spiffeId, 'spiffe://example.org/good');

  const expect = async (pem: string, code: string, opts: { now?: Date } = {}) =>
    assert.throws(() => verifyPeerSvid(pem, bundle, ca.revocations, TD, opts), (e: { code: string }) => e.code === code, code);

  await expect((await mintLeaf(issuer, { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] })).chainPem, 'WARDEN_IDENTITY_SVID_INVALID');
  await expect((await mintLeaf(issuer, { uris: [] })).chainPem, 'WARDEN_IDENTITY_SVID_INVALID');
  await expect((await mintLeaf(issuer, { uris: ['spiffe://example.org/ca'], ca: true })).chainPem, 'WARDEN_IDENTITY_SVID_INVALID');
  await expect((await mintLeaf(issuer, { uris: ['spiffe://example.org/ks'], keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign })).chainPem, 'WARDEN_IDENTITY_SVID_INVALID');
  await expect((await mintLeaf(issuer, { uris: ['https://example.org/not-spiffe'] })).chainPem, 'WARDEN_IDENTITY_SVID_INVALID');
  await expect((await mintLeaf(issuer, { uris: ['spiffe://evil.org/a'] })).chainPem, 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH');
  // Expired.
  await expect((await mintLeaf(issuer, { uris: ['spiffe://example.org/old'], notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) })).chainPem, 'WARDEN_IDENTITY_SVID_EXPIRED');
  // Clock skew: a verifier 10 s behind the CA still accepts (backdated notBefore + tolerance), one 10 min behind does not.
  const fresh = await mintLeaf(issuer, { uris: ['spiffe://example.org/fresh'], notBefore: new Date(Date.now() + 20_000) });
  assert.equal(verifyPeerSvid(fresh.chainPem, bundle, null, TD).spiffeId, 'spiffe://example.org/fresh');
  await expect(fresh.chainPem, 'WARDEN_IDENTITY_SVID_NOT_YET_VALID', { now: new Date(Date.now() - 600_000) });
  await expect(good.chainPem, 'WARDEN_IDENTITY_SVID_EXPIRED', { now: new Date(good.notAfter.getTime() + 31_000) });
  assert.equal(verifyPeerSvid(good.chainPem, bundle, null, TD, { now: new Date(good.notAfter.getTime() + 20_000) }).spiffeId, 'spiffe://example.org/good');
  // Another CA of the same trust-domain name, and a leaf with its intermediate missing.
  const other = await loadOrCreateAuthority({ dataDir: otherDir, trustDomain: TD });
  const foreign = await other.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/good' });
  await expect(foreign.chainPem, 'WARDEN_IDENTITY_SVID_UNTRUSTED');
  await expect(good.certPem, 'WARDEN_IDENTITY_SVID_UNTRUSTED');
  assert.throws(() => verifyPeerSvid(null, bundle, null, TD), { code: 'WARDEN_IDENTITY_SVID_MISSING' });
  assert.throws(() => verifyPeerSvid({} as never, bundle, null, TD), { code: 'WARDEN_IDENTITY_SVID_MISSING' });
  // Revocation by serial and by SPIFFE ID.
  await ca.revoke({ serial: good.serial, reason: 'test' });
  await expect(good.chainPem, 'WARDEN_IDENTITY_REVOKED');
  const second = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/good' });
  assert.equal(verifyPeerSvid(second.chainPem, bundle, ca.revocations, TD).serial, second.serial);
  await ca.revoke({ spiffeId: 'spiffe://example.org/good' });
  await expect(second.chainPem, 'WARDEN_IDENTITY_REVOKED');
  await assert.rejects(ca.revoke({ serial: 'abcdef' }), { code: 'WARDEN_IDENTITY_REVOCATION_NOT_FOUND' });
  await assert.rejects(ca.revoke({ serial: 'zz' }), { code: 'WARDEN_INPUT_INVALID' });
  // Persisted: a reopened CA (same DB) still knows both revocations.
  const reopened = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD, db });
  assert.ok(reopened.revocations.hasSerial(good.serial));
  assert.ok(reopened.revocations.hasSpiffeId('spiffe://example.org/good'));
});

test('JWT-SVIDs: ES256 with sub = SPIFFE ID, aud required and checked, expiry and tampering rejected; EdDSA optional', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  const jwt = await ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/api', audience: 'model-server' });
  assert.equal(decodeProtectedHeader(jwt.token).alg, 'ES256');
  assert.ok(decodeProtectedHeader(jwt.token).kid);
  const left = (jwt.expiresAt.getTime() - Date.now()) / 1000;
  assert.ok(left > 295 && left <= 300, `default JWT-SVID TTL is 5 min (${left})`);
  const opts = { audience: 'model-server', trustDomain: TD };
  assert.equal((await verifyJwtSvid(jwt.token, ca.jwks(), opts)).spiffeId, 'spiffe://example.org/api');
  await assert.rejects(ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/api', audience: [] }), { code: 'WARDEN_IDENTITY_AUDIENCE_REQUIRED' });
  await assert.rejects(verifyJwtSvid(jwt.token, ca.jwks(), { ...opts, audience: 'other' }), { code: 'WARDEN_IDENTITY_JWT_INVALID' });
  await assert.rejects(verifyJwtSvid(jwt.token, ca.jwks(), { ...opts, now: new Date(Date.now() + 400_000) }), { code: 'WARDEN_IDENTITY_JWT_INVALID' });
  await assert.rejects(verifyJwtSvid(jwt.token, ca.jwks(), { ...opts, trustDomain: 'other.org' }), { code: 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH' });
  const [h, p, s] = jwt.token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'spiffe://example.org/admin' })).toString('base64url');
  await assert.rejects(verifyJwtSvid(`${h}.${forged}.${s}`, ca.jwks(), opts), { code: 'WARDEN_IDENTITY_JWT_INVALID' });
  // alg=HS256 signed with the public x coordinate (classic confusion attack) is refused.
  const x = ca.jwks().keys.find((k) => k.use === 'jwt-svid')!.x!;
  const hs = await new SignJWT({ sub: 'spiffe://example.org/admin', aud: 'model-server' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(Buffer.from(x));
  await assert.rejects(verifyJwtSvid(hs, ca.jwks(), opts), { code: 'WARDEN_IDENTITY_JWT_INVALID' });

  const edDir = tempDir();
  t.after(() => rmSync(edDir, { recursive: true, force: true }));
  const ed = await loadOrCreateAuthority({ dataDir: edDir, trustDomain: TD, jwtAlgorithm: 'EdDSA' });
  const edJwt = await ed.issueJwtSvid({ spiffeId: 'spiffe://example.org/api', audience: ['a', 'b'] });
  assert.equal(decodeProtectedHeader(edJwt.token).alg, 'EdDSA');
  assert.deepEqual((await verifyJwtSvid(edJwt.token, ed.jwks(), { audience: 'b', trustDomain: TD })).audience, ['a', 'b']);
});

test('CA rotation keeps the old root in the bundle (overlap) and switches issuance to the new one', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  const seq0 = ca.jwks().spiffe_sequence;
  const before = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/a' });
  const prepared = await ca.rotate({ prepareOnly: true });
  assert.deepEqual(prepared.map((g) => g.status).sort(), ['active', 'prepared']);
  assert.equal((ca.bundlePem().match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
  const stillOld = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/a' });
  assert.equal(stillOld.chainPem.split('-----END CERTIFICATE-----')[1], before.chainPem.split('-----END CERTIFICATE-----')[1]);
  const rotated = await ca.rotate();
  assert.deepEqual(rotated.map((g) => g.status).sort(), ['active', 'retired']);
  const after = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/a' });
  assert.notEqual(after.chainPem.split('-----END CERTIFICATE-----')[1], before.chainPem.split('-----END CERTIFICATE-----')[1]);
  // Both old and new SVIDs verify against the overlapping bundle; bundle.pem on disk follows.
  assert.equal(verifyPeerSvid(before.chainPem, ca.bundlePem(), null, TD).spiffeId, 'spiffe://example.org/a');
  assert.equal(verifyPeerSvid(after.chainPem, ca.bundlePem(), null, TD).spiffeId, 'spiffe://example.org/a');
  assert.equal(readFileSync(join(dir, 'bundle.pem'), 'utf8'), ca.bundlePem());
  const jwks = ca.jwks();
  assert.equal(jwks.keys.filter((k) => k.use === 'x509-svid').length, 2);
  assert.equal(jwks.keys.filter((k) => k.use === 'jwt-svid').length, 2);
  assert.ok(jwks.spiffe_sequence > seq0);
  // An old JWT-SVID still verifies against the new JWKS; survives a reopen.
  const reopened = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  assert.equal(reopened.generations().length, 2);
  assert.equal(reopened.bundlePem(), ca.bundlePem());
});

/** A CA in a fresh data dir with an issued-SVID store (an embedded database), as a control plane has. */
async function authorityWithStore(t: TestContext) {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = await openStore({});
  t.after(() => db.close());
  return { dir, db, ca: await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD, db }) };
}

test('the CRL is signed by the intermediate, lists revoked serials, and makes openssl -crl_check fail', async (t) => {
  const { dir, ca } = await authorityWithStore(t);
  const a = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/a' });
  const b = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/b' });
  await ca.revoke({ serial: a.serial });
  await ca.revoke({ spiffeId: 'spiffe://example.org/b' });
  const crl = await ca.crl();
  const parsed = new x509.X509Crl(crl.pem);
  const serials = parsed.entries.map((e) => e.serialNumber.replace(/^0+/, '').toLowerCase()).sort();
  assert.deepEqual(serials, [a.serial, b.serial].sort());
  writeFileSync(join(dir, 'crl.pem'), crl.pem);
  writeFileSync(join(dir, 'chain.pem'), ca.bundlePem() + ca.intermediatePem());
  writeFileSync(join(dir, 'a.pem'), a.certPem);
  writeFileSync(join(dir, 'inter.pem'), ca.intermediatePem());
  const crlCheck = spawnSync('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-CAfile', join(dir, 'chain.pem'), '-noout'], { encoding: 'utf8' });
  assert.match(crlCheck.stderr + crlCheck.stdout, /verify OK/);
  const v = spawnSync('openssl', ['verify', '-crl_check', '-CAfile', join(dir, 'bundle.pem'), '-untrusted', join(dir, 'inter.pem'), '-CRLfile', join(dir, 'crl.pem'), join(dir, 'a.pem')], { encoding: 'utf8' });
  assert.notEqual(v.status, 0);
  assert.match(v.stdout + v.stderr, /revoked/);
  const c = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/c' });
  writeFileSync(join(dir, 'c.pem'), c.certPem);
  const vc = spawnSync('openssl', ['verify', '-crl_check', '-CAfile', join(dir, 'bundle.pem'), '-untrusted', join(dir, 'inter.pem'), '-CRLfile', join(dir, 'crl.pem'), join(dir, 'c.pem')], { encoding: 'utf8' });
  assert.equal(vc.status, 0, vc.stdout + vc.stderr);
});

test('revocation list: idempotent, O(1) lookups, change events, snapshot/replace for PEPs, prune drops expired serials', async (t) => {
  const { RevocationList } = await import('../../src/identity/index.js');
  const db = await openStore({});
  t.after(() => db.close());
  const list = new RevocationList(db);
  const seen: number[] = [];
  list.on('change', (added: unknown[]) => seen.push(added.length));
  await list.add({ kind: 'spiffe_id', value: 'spiffe://example.org/a', reason: 'x' });
  const first = list.entries()[0]!.revokedAt;
  await list.add({ kind: 'spiffe_id', value: 'spiffe://example.org/a', reason: 'again' });
  assert.equal(list.size, 1);
  assert.equal(list.entries()[0]!.revokedAt, first, 're-revoking keeps the first record');
  await list.add({ kind: 'serial', value: '00:AB:cd', expiresAt: new Date(Date.now() - REVOCATION_KEPT_AFTER_EXPIRY_MS - 1000) });
  assert.ok(list.hasSerial('abcd') && list.hasSerial('00ABCD'));
  // Expired, but verifiers still accept it within their clock skew: kept until that has passed too.
  await list.add({ kind: 'serial', value: 'ef01', expiresAt: new Date(Date.now() - 1000) });
  assert.ok(list.isRevoked('spiffe://example.org/a', undefined));
  await assert.rejects(list.add({ kind: 'spiffe_id', value: 'not-an-id' }), { code: 'WARDEN_IDENTITY_SPIFFE_ID_INVALID' });
  const pep = new RevocationList();
  pep.replace(list.snapshot().entries, list.version);
  assert.equal(pep.version, list.version);
  assert.ok(pep.hasSpiffeId('spiffe://example.org/a'));
  assert.equal(await list.prune(), 1);
  assert.ok(!list.hasSerial('abcd'));
  assert.ok(list.hasSerial('ef01'), 'expired less than the largest accepted clock skew (+ a minute) ago: kept');
  const reloaded = new RevocationList(db);
  await reloaded.load();
  assert.equal(reloaded.size, 2);
  assert.ok(reloaded.hasSerial('ef01') && !reloaded.hasSerial('abcd'), 'pruned in the database by the same rule');
  assert.deepEqual(seen, [1, 1, 1]);
});

test('verifyPeerSvid verifies the chain before the trust domain: an unanchored certificate of another trust domain learns nothing of ours', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  t.after(() => ca.close());
  const bundle = ca.bundlePem();
  const { webcrypto } = await import('node:crypto');
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  /** A certificate the attacker signs with its own key, valid for an hour. */
  const selfSignedByAttacker = (name: string, extensions: x509.Extension[]) =>
    x509.X509CertificateGenerator.createSelfSigned({
      name,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys: keys as never,
      extensions,
    });
  const selfSigned = await selfSignedByAttacker('O=Attacker', [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://other.org/x' }]),
  ]);
  const attackerCa = await selfSignedByAttacker('O=Attacker CA', [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)]);
  const underAttackerCa = await mintLeaf({ cert: attackerCa, key: keys.privateKey }, { uris: ['spiffe://other.org/x'] });
  for (const pem of [selfSigned.toString('pem'), underAttackerCa.chainPem]) {
    assert.throws(
      () => verifyPeerSvid(pem, bundle, ca.revocations, TD),
      (e: { code: string; message: string }) => e.code === 'WARDEN_IDENTITY_SVID_UNTRUSTED' && !e.message.includes(TD),
    );
  }
  // Anchored in the bundle but of another trust domain: the peer is authenticated, so it may learn why it is refused.
  const issued = await mintLeaf(await loadIntermediate(dir), { uris: ['spiffe://other.org/x'] });
  assert.throws(() => verifyPeerSvid(issued.chainPem, bundle, ca.revocations, TD), { code: 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH' });
});

test('revoking a retired intermediate by serial revokes every SVID it issued (CA with an issued-SVID store); the active and a prepared one are refused', async (t) => {
  const { dir, db, ca } = await authorityWithStore(t);
  const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;
  const before = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/before' });
  const first = serialOf(ca.intermediatePem());
  await assert.rejects(ca.revoke({ serial: first }), { code: 'WARDEN_CONFLICT' });
  await ca.rotate();
  await assert.rejects(ca.revoke({ serial: serialOf(ca.intermediatePem()) }), { code: 'WARDEN_CONFLICT' }, 'the new active one');
  await ca.rotate({ prepareOnly: true });
  const statuses = ca.generations().map((g) => g.status);
  const prepared = pemCertificateBlocks(ca.intermediatesPem())[statuses.indexOf('prepared')]!;
  await assert.rejects(ca.revoke({ serial: serialOf(prepared) }), { code: 'WARDEN_CONFLICT' }, 'a prepared one');

  const after = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/after' });
  assert.equal(verifyPeerSvid(before.chainPem, ca.bundlePem(), ca.revocations, TD).spiffeId, 'spiffe://example.org/before');
  // Certificates under the oldest usable root (remote gateways' listeners) come from the retired generation until its intermediate is revoked.
  const issuerOf = (chainPem: string) => new X509Certificate(pemCertificateBlocks(chainPem)[1]!).serialNumber;
  assert.equal(issuerOf((await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/gw', root: 'oldest' })).chainPem), first);
  await ca.revoke({ serial: first, reason: 'key compromise' });
  const oldest = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/gw', root: 'oldest' });
  assert.notEqual(issuerOf(oldest.chainPem), first, 'nothing more is issued under a revoked intermediate');
  assert.equal(verifyPeerSvid(oldest.chainPem, ca.bundlePem(), ca.revocations, TD).spiffeId, 'spiffe://example.org/gw');
  assert.throws(() => verifyPeerSvid(before.chainPem, ca.bundlePem(), ca.revocations, TD), { code: 'WARDEN_IDENTITY_REVOKED' });
  const ok = verifyPeerSvid(after.chainPem, ca.bundlePem(), ca.revocations, TD);
  assert.equal(ca.revocations.revokesSvid(ok.spiffeId, ok.serial, ok.issuerSerials), false);
  // Persisted, with the intermediate's own expiry.
  const reopened = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD, db });
  assert.ok(reopened.revocations.hasSerial(first));
  const entry = reopened.revocations.entries().find((e) => e.kind === 'serial')!;
  assert.ok(entry.expiresAt && Math.abs(new Date(entry.expiresAt).getTime() - new Date(new X509Certificate(pemCertificateBlocks(before.chainPem)[1]!).validTo).getTime()) < 1000);
});

test('an intermediate a renewal replaced stays revocable by serial until it expires, across a restart (CA with an issued-SVID store)', async (t) => {
  const { dir, db, ca } = await authorityWithStore(t);
  const serialOf = (pem: string) => normalizeSerial(new X509Certificate(pem).serialNumber);
  const before = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/before' });
  const first = serialOf(ca.intermediatePem());
  // Past the intermediate's half-life (30 days by default): the next issuance renews it.
  const realNow = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => realNow() + 16 * 24 * 3600_000);
  const now = () => new Date(Date.now());
  const after = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/after' });
  assert.notEqual(serialOf(ca.intermediatePem()), first, 'the intermediate was renewed');
  const active = ca.generations().find((g) => g.status === 'active')!;
  assert.deepEqual(active.supersededIntermediates.map((e) => e.serial), [first], 'warden identity ca show lists the replaced one');

  // Reopened: the record survives in authority.json though the old certificate and key are deleted.
  const reopened = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD, db });
  assert.deepEqual(reopened.generations().find((g) => g.status === 'active')!.supersededIntermediates.map((e) => e.serial), [first]);
  await reopened.revoke({ serial: first, reason: 'key compromise' });
  const entry = reopened.revocations.entries().find((e) => e.kind === 'serial')!;
  assert.equal(entry.value, first);
  assert.ok(entry.expiresAt && Math.abs(new Date(entry.expiresAt).getTime() - new Date(new X509Certificate(pemCertificateBlocks(before.chainPem)[1]!).validTo).getTime()) < 1000, 'the revocation lasts as long as the intermediate');
  // Checked at its own time (an hour-long SVID has expired 16 days on); otherwise it verifies.
  assert.throws(() => verifyPeerSvid(before.chainPem, reopened.bundlePem(), reopened.revocations, TD, { now: new Date(realNow()) }), { code: 'WARDEN_IDENTITY_REVOKED' });
  assert.equal(verifyPeerSvid(after.chainPem, reopened.bundlePem(), reopened.revocations, TD, { now: now() }).spiffeId, 'spiffe://example.org/after', 'SVIDs of the current intermediate are untouched');
  await assert.rejects(reopened.revoke({ serial: 'abcdef0123' }), { code: 'WARDEN_IDENTITY_REVOCATION_NOT_FOUND' }, 'unknown serials are still refused');
});

test('authority.json with a malformed list of replaced intermediates is refused, not half-read', async () => {
  const dir = tempDir();
  try {
    const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
    await ca.close();
    const path = join(dir, 'ca', 'authority.json');
    const state = JSON.parse(readFileSync(path, 'utf8'));
    state.generations[0].superseded = [{ serial: 'not hex', notAfter: '2030-01-01T00:00:00Z' }];
    writeFileSync(path, JSON.stringify(state));
    await assert.rejects(loadOrCreateAuthority({ dataDir: dir, trustDomain: TD }), { code: 'WARDEN_IDENTITY_CA_STATE_INVALID' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, connect, type TLSSocket, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { loadOrCreateAuthority, createWorkloadKey, type CertificateAuthority } from '../../../src/identity/index.js';
import { JwtSvidAuthenticator, MtlsAuthenticator, BearerAuthenticator, JwtAuthenticator, looksLikeJwt } from '../../../src/gateway/authn/index.js';
import type { Principal } from '../../../src/gateway/RequestContext.js';
import { TestIssuer, makeKey } from './helpers.js';
import { loadIntermediate, mintLeaf } from '../../identity/helpers/fixtures.js';

const dirs: string[] = [];
let ca: CertificateAuthority;
let foreign: CertificateAuthority;

before(async () => {
  for (let i = 0; i < 2; i++) dirs.push(mkdtempSync(join(tmpdir(), 'warden-authn-')));
  ca = await loadOrCreateAuthority({ dataDir: dirs[0]!, trustDomain: 'example.org' });
  foreign = await loadOrCreateAuthority({ dataDir: dirs[1]!, trustDomain: 'other.org' });
});
after(async () => {
  await ca.close();
  await foreign.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('JWT-SVID: Service principal; audience, expiry, foreign bundle, trust domain and revocation enforced', async () => {
  const revoked = new Set<string>();
  const auth = new JwtSvidAuthenticator({ trustDomain: 'example.org', audience: 'warden-gateway', bundle: () => ca.jwks(), isRevoked: (id) => revoked.has(id) });
  const svid = await ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/ns/ml/sa/trainer', audience: ['warden-gateway', 'x'] });
  assert.deepEqual(await auth.authenticate(svid.token), { entity: { type: 'Service', id: 'spiffe://example.org/ns/ml/sa/trainer' }, id: 'spiffe://example.org/ns/ml/sa/trainer', method: 'jwt-svid', parents: [] });

  const wrongAud = await ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/a', audience: 'other-service' });
  await assert.rejects(auth.authenticate(wrongAud.token), { code: 'WARDEN_AUTHN_TOKEN_AUDIENCE' });
  const old = await ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/a', audience: 'warden-gateway', ttlSeconds: 60, now: new Date(Date.now() - 3600_000) });
  await assert.rejects(auth.authenticate(old.token), { code: 'WARDEN_AUTHN_TOKEN_EXPIRED' });
  const other = await foreign.issueJwtSvid({ spiffeId: 'spiffe://other.org/a', audience: 'warden-gateway' });
  await assert.rejects(auth.authenticate(other.token), (e: { code: string }) => ['WARDEN_AUTHN_UNKNOWN_KID', 'WARDEN_AUTHN_BAD_SIGNATURE'].includes(e.code));

  const otherDomain = new JwtSvidAuthenticator({ trustDomain: 'another.org', audience: 'warden-gateway', bundle: () => ca.jwks(), isRevoked: () => false });
  await assert.rejects(otherDomain.authenticate(svid.token), { code: 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH' });

  revoked.add('spiffe://example.org/ns/ml/sa/trainer');
  await assert.rejects(auth.authenticate(svid.token), { code: 'WARDEN_IDENTITY_REVOKED' });
});

test('JWT-SVID: a CA that signs with EdDSA (identity.jwtAlgorithm) is accepted too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-authn-eddsa-'));
  const eddsa = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'example.org', jwtAlgorithm: 'EdDSA' });
  try {
    const auth = new JwtSvidAuthenticator({ trustDomain: 'example.org', audience: 'gw', bundle: () => eddsa.jwks(), isRevoked: () => false });
    const svid = await eddsa.issueJwtSvid({ spiffeId: 'spiffe://example.org/ns/ml/sa/ed', audience: 'gw' });
    assert.equal(JSON.parse(Buffer.from(svid.token.split('.')[0]!, 'base64url').toString()).alg, 'EdDSA');
    assert.equal((await auth.authenticate(svid.token)).id, 'spiffe://example.org/ns/ml/sa/ed');
  } finally {
    await eddsa.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JWT-SVID: keys follow CA rotation through the bundle', async () => {
  const auth = new JwtSvidAuthenticator({ trustDomain: 'example.org', audience: 'gw', bundle: () => ca.jwks(), isRevoked: () => false });
  const before = await ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/r', audience: 'gw' });
  await auth.authenticate(before.token);
  await ca.rotate();
  const afterRotation = await ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/r', audience: 'gw' });
  assert.equal((await auth.authenticate(afterRotation.token)).id, 'spiffe://example.org/r');
});

interface Harness {
  server: Server;
  port: number;
  results: Promise<Principal | null | { code: string }>[];
  sockets: TLSSocket[];
}

async function mtlsServer(auth: MtlsAuthenticator): Promise<Harness> {
  const cert = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const h: Harness = { server: null as unknown as Server, port: 0, results: [], sockets: [] };
  // Client certificates requested, not required (API-key clients have none); Warden verifies them itself.
  h.server = createServer({ cert: cert.chainPem, key: cert.keyPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (socket) => {
    h.sockets.push(socket);
    h.results.push(Promise.resolve().then(() => {
      try {
        return auth.authenticate(socket);
      } catch (e) {
        return { code: (e as { code: string }).code };
      }
    }));
    socket.end('ok');
  });
  await new Promise<void>((r) => h.server.listen(0, '127.0.0.1', r));
  h.port = (h.server.address() as AddressInfo).port;
  return h;
}

async function dial(h: Harness, creds: { cert?: string; key?: string }): Promise<Principal | null | { code: string }> {
  const n = h.results.length;
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: h.port, ca: ca.bundlePem(), servername: 'localhost', ...creds }, () => s.resume());
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  return h.results[n]!;
}

test('mTLS: X.509-SVID client certificate → Service principal over a real TLS connection; unhappy paths', async () => {
  let now = Date.now();
  const auth = new MtlsAuthenticator({ trustDomain: 'example.org', bundlePem: () => ca.bundlePem(), revocations: ca.revocations, now: () => now });
  const h = await mtlsServer(auth);
  try {
    const key = createWorkloadKey();
    const svid = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://example.org/ns/ml/sa/client', ttlSeconds: 600 });
    const p = await dial(h, { cert: svid.chainPem, key: key.keyPem });
    assert.deepEqual(p, { entity: { type: 'Service', id: 'spiffe://example.org/ns/ml/sa/client' }, id: 'spiffe://example.org/ns/ml/sa/client', method: 'mtls', parents: [], serial: svid.serial, issuerSerials: [new X509Certificate(ca.intermediatePem()).serialNumber.toLowerCase().replace(/^0+/, '')] });
    // Same socket again: served from the per-connection cache, still checked for expiry.
    const sock = h.sockets.at(-1)!;
    assert.equal(auth.authenticate(sock), p);
    now += 700_000;
    assert.throws(() => auth.authenticate(sock), { code: 'WARDEN_IDENTITY_SVID_EXPIRED' });
    now = Date.now();

    // No certificate: not an error here (another credential may apply).
    assert.equal(await dial(h, {}), null);

    // Certificate from another trust domain's CA: refused as untrusted (the chain is checked before
    // the trust domain, so an unauthenticated peer does not learn ours).
    const fk = createWorkloadKey();
    const fsvid = await foreign.issueX509SvidFromCsr(fk.csrPem, { spiffeId: 'spiffe://other.org/x' });
    assert.deepEqual(await dial(h, { cert: fsvid.chainPem, key: fk.keyPem }), { code: 'WARDEN_IDENTITY_SVID_UNTRUSTED' });
    const fauth = new MtlsAuthenticator({ trustDomain: 'other.org', bundlePem: () => ca.bundlePem(), revocations: null });
    const h2 = await mtlsServer(fauth);
    assert.deepEqual(await dial(h2, { cert: fsvid.chainPem, key: fk.keyPem }), { code: 'WARDEN_IDENTITY_SVID_UNTRUSTED' });
    h2.server.close();

    // Chains to the bundle but is not an SVID: two URI SANs; a CA certificate.
    const issuer = await loadIntermediate(dirs[0]!);
    const two = await mintLeaf(issuer, { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] });
    assert.deepEqual(await dial(h, { cert: two.chainPem, key: two.keyPem }), { code: 'WARDEN_IDENTITY_SVID_INVALID' });
    const caLeaf = await mintLeaf(issuer, { uris: ['spiffe://example.org/a'], ca: true });
    assert.deepEqual(await dial(h, { cert: caLeaf.chainPem, key: caLeaf.keyPem }), { code: 'WARDEN_IDENTITY_SVID_INVALID' });

    // Revocation applies to new connections and to the cached one.
    const again = await dial(h, { cert: svid.chainPem, key: key.keyPem });
    assert.equal((again as Principal).id, 'spiffe://example.org/ns/ml/sa/client');
    const cachedSock = h.sockets.at(-1)!;
    await ca.revoke({ spiffeId: 'spiffe://example.org/ns/ml/sa/client', reason: 'test' });
    assert.throws(() => auth.authenticate(cachedSock), { code: 'WARDEN_IDENTITY_REVOKED' });
    assert.deepEqual(await dial(h, { cert: svid.chainPem, key: key.keyPem }), { code: 'WARDEN_IDENTITY_REVOKED' });
  } finally {
    h.server.close();
  }
});

test('mTLS: a connection verified before its issuing intermediate was revoked is refused on its next request (the per-connection cache checks the chain too)', async () => {
  // A CA of its own: its first intermediate gets revoked.
  const dir = mkdtempSync(join(tmpdir(), 'warden-authn-issuer-'));
  const own = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'example.org' });
  const auth = new MtlsAuthenticator({ trustDomain: 'example.org', bundlePem: () => own.bundlePem(), revocations: own.revocations });
  const h = await mtlsServer(auth);
  try {
    const key = createWorkloadKey();
    const svid = await own.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://example.org/ns/ml/sa/cached', ttlSeconds: 600 });
    const issuer = new X509Certificate(own.intermediatePem()).serialNumber;
    // A new generation before the connection (the active intermediate cannot be revoked; a bundle
    // change after it would send the connection through a full verification again).
    await own.rotate();
    const p = (await dial(h, { cert: svid.chainPem, key: key.keyPem })) as Principal;
    assert.equal(p.id, 'spiffe://example.org/ns/ml/sa/cached');
    const sock = h.sockets.at(-1)!;
    assert.equal(auth.authenticate(sock), p, 'served from the cache');
    await own.revoke({ serial: issuer, reason: 'test' });
    assert.throws(() => auth.authenticate(sock), { code: 'WARDEN_IDENTITY_REVOKED' });
  } finally {
    h.server.close();
    await own.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mTLS over HTTP/2 and HTTP/1.1: principal per connection, verified once per connection', async () => {
  const { createSecureServer, connect: h2connect } = await import('node:http2');
  const { request: httpsRequest, Agent } = await import('node:https');
  const auth = new MtlsAuthenticator({ trustDomain: 'example.org', bundlePem: () => ca.bundlePem(), revocations: ca.revocations });
  const seen: (Principal | null)[] = [];
  const cert = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const server = createSecureServer({ cert: cert.chainPem, key: cert.keyPem, allowHTTP1: true, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    seen.push(auth.authenticateRequest(req));
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const key = createWorkloadKey();
  const svid = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://example.org/h2' });
  try {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca: ca.bundlePem(), cert: svid.chainPem, key: key.keyPem, servername: 'localhost' });
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve, reject) => {
        const s = session.request({ ':path': '/' });
        s.on('error', reject);
        s.resume();
        s.on('end', () => resolve());
        s.end();
      });
    }
    session.close();
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.id, 'spiffe://example.org/h2');
    assert.equal(seen[1], seen[0], 'the second stream on the session reuses the verified principal');
    // HTTP/1.1 with keep-alive: same, per connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.bundlePem(), cert: svid.chainPem, key: key.keyPem, servername: 'localhost' });
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve, reject) => {
        const r = httpsRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        r.on('error', reject);
        r.end();
      });
    }
    agent.destroy();
    assert.equal(seen[2]!.id, 'spiffe://example.org/h2');
    assert.equal(seen[3], seen[2]);
    assert.notEqual(seen[2], seen[0], 'a new connection is verified again');
  } finally {
    server.close();
  }
});

test('BearerAuthenticator routes OIDC tokens, JWT-SVIDs and API keys', async () => {
  const idp = await new TestIssuer('https://idp.example.test').start();
  try {
    const k = await makeKey('k');
    idp.keys = [k];
    const jwt = new JwtAuthenticator({ issuers: [{ issuer: idp.issuer, audience: 'gw', jwksUri: idp.url }] });
    const jwtSvid = new JwtSvidAuthenticator({ trustDomain: 'example.org', audience: 'gw', bundle: () => ca.jwks(), isRevoked: () => false });
    const bearer = new BearerAuthenticator({ jwt, jwtSvid });
    const oidc = await idp.sign(k, { nowSeconds: Math.floor(Date.now() / 1000), aud: 'gw' });
    assert.equal((await bearer.authenticate(oidc))!.method, 'jwt');
    const svid = await ca.issueJwtSvid({ spiffeId: 'spiffe://example.org/w', audience: 'gw' });
    assert.equal((await bearer.authenticate(svid.token))!.method, 'jwt-svid');
    assert.equal(await bearer.authenticate('wdn_live_abcdef0123456789abcdef0123456789'), null);
    assert.equal(looksLikeJwt(oidc), true);
    assert.equal(looksLikeJwt('wdn_x.y.z'), false);
    await assert.rejects(bearer.authenticate(await idp.sign(k, { nowSeconds: 1, iss: 'https://nope.test' })), { code: 'WARDEN_AUTHN_TOKEN_ISSUER' });
    // With no JWT method configured every bearer is left to the API-key check.
    assert.equal(await new BearerAuthenticator({}).authenticate(oidc), null);
  } finally {
    await idp.stop();
  }
});

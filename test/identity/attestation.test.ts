import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { startControlPlane, tempDir, ADMIN_TOKEN } from './helpers/controlPlane.js';
import { issueMaterial } from './helpers/workloads.js';
import { createWorkloadKey, IdentityClient, getIdentityService, IdentityService, verifyPeerSvid } from '../../src/identity/index.js';
import { x509 } from './helpers/fixtures.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

async function testIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k8s-test', alg: 'RS256', use: 'sig' };
  const mint = (o: { ns?: string; sa?: string; iss?: string; aud?: string; exp?: string | number; key?: CryptoKeyLike } = {}) => {
    const ns = o.ns ?? 'ml';
    const sa = o.sa ?? 'trainer';
    return new SignJWT({ 'kubernetes.io': { namespace: ns, serviceaccount: { name: sa, uid: 'u-1' }, pod: { name: `${sa}-0`, uid: 'p-1' } } })
      .setProtectedHeader({ alg: 'RS256', kid: 'k8s-test' })
      .setSubject(`system:serviceaccount:${ns}:${sa}`)
      .setIssuer(o.iss ?? ISSUER)
      .setAudience(o.aud ?? 'warden')
      .setIssuedAt()
      .setExpirationTime(o.exp ?? '10m')
      .sign(o.key ?? privateKey);
  };
  return { jwks: { keys: [jwk] }, mint };
}
type CryptoKeyLike = Parameters<SignJWT['sign']>[0];

test('Kubernetes projected SA tokens: verified against the issuer JWKS, mapped through registration entries', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const k8s = await testIssuer();
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(k8s.jwks));
  const cp = await startControlPlane({ identity: { k8s: { issuer: ISSUER, jwksFile: join(dir, 'jwks.json'), audience: 'warden' } } });
  t.after(() => cp.close());
  const id = await getIdentityService(cp.ctx);
  await id.entries.create({ spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer', selectors: ['k8s:ns:ml', 'k8s:sa:trainer'] });
  await assert.rejects(id.entries.create({ spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer', selectors: ['k8s:sa:trainer', 'k8s:ns:ml'] }), { code: 'WARDEN_IDENTITY_ENTRY_EXISTS' });
  await assert.rejects(id.entries.create({ spiffeId: 'spiffe://warden.local/x', selectors: ['no-colon'] }), { code: 'WARDEN_INPUT_INVALID' });

  const client = new IdentityClient(cp.url, { bundlePem: cp.ca.bundlePem() });
  t.after(() => client.close());
  const csr = createWorkloadKey().csrPem;
  const svid = await client.attest({ csr, k8sToken: await k8s.mint() });
  assert.equal(svid.spiffeId, 'spiffe://warden.local/ns/ml/sa/trainer');
  assert.equal(verifyPeerSvid(svid.chainPem, cp.ca.bundlePem(), null, 'warden.local').spiffeId, svid.spiffeId);

  const code = async (p: Promise<unknown>, c: string) => assert.rejects(p, (e: { code: string }) => e.code === c, c);
  await code(client.attest({ csr, k8sToken: await k8s.mint({ iss: 'https://evil.example' }) }), 'WARDEN_IDENTITY_K8S_TOKEN_INVALID');
  await code(client.attest({ csr, k8sToken: await k8s.mint({ aud: 'other' }) }), 'WARDEN_IDENTITY_K8S_TOKEN_INVALID');
  await code(client.attest({ csr, k8sToken: await k8s.mint({ exp: Math.floor(Date.now() / 1000) - 3600 }) }), 'WARDEN_IDENTITY_K8S_TOKEN_INVALID');
  const rogue = await generateKeyPair('RS256');
  await code(client.attest({ csr, k8sToken: await k8s.mint({ key: rogue.privateKey }) }), 'WARDEN_IDENTITY_K8S_TOKEN_INVALID');
  await code(client.attest({ csr, k8sToken: 'not.a.jwt' }), 'WARDEN_IDENTITY_K8S_TOKEN_INVALID');
  await code(client.attest({ csr, k8sToken: await k8s.mint({ ns: 'prod' }) }), 'WARDEN_IDENTITY_ATTESTATION_FAILED');
  // Two entries for the same workload: ambiguous unless the agent names one.
  await id.entries.create({ spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer/gpu', selectors: ['k8s:ns:ml'] });
  await code(client.attest({ csr, k8sToken: await k8s.mint() }), 'WARDEN_IDENTITY_ATTESTATION_FAILED');
  assert.equal((await client.attest({ csr, k8sToken: await k8s.mint(), spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer/gpu' })).spiffeId, 'spiffe://warden.local/ns/ml/sa/trainer/gpu');
  // A workload may ask for up to identity.svidTtlSeconds (1 h), or up to the lifetime the admin put on its entry.
  await code(client.attest({ csr, k8sToken: await k8s.mint(), spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer', ttlSeconds: 3601 }), 'WARDEN_IDENTITY_TTL_INVALID');
  await id.entries.create({ spiffeId: 'spiffe://warden.local/ns/ml/sa/tuner', selectors: ['k8s:ns:ml', 'k8s:sa:tuner'], ttlSeconds: 7200 });
  const lifeOf = (s: { notAfter: string }) => Math.round((Date.parse(s.notAfter) - Date.now()) / 1000);
  const tunerToken = async () => k8s.mint({ sa: 'tuner' });
  const tunerId = 'spiffe://warden.local/ns/ml/sa/tuner';
  assert.ok(Math.abs(lifeOf(await client.attest({ csr, k8sToken: await tunerToken(), spiffeId: tunerId })) - 7200) <= 5, 'the entry ttl by default');
  assert.ok(Math.abs(lifeOf(await client.attest({ csr, k8sToken: await tunerToken(), spiffeId: tunerId, ttlSeconds: 7200 })) - 7200) <= 5);
  await code(client.attest({ csr, k8sToken: await tunerToken(), spiffeId: tunerId, ttlSeconds: 7201 }), 'WARDEN_IDENTITY_TTL_INVALID');
  // A renewal keeps the lifetime its SVID was given (the entry's), asked for or by default, never more.
  const tuner = await client.attest({ csr, k8sToken: await tunerToken(), spiffeId: tunerId, ttlSeconds: 7200 });
  const lifeOfSvid = (s: { notAfter: Date }) => Math.round((s.notAfter.getTime() - Date.now()) / 1000);
  assert.ok(Math.abs(lifeOfSvid(await id.renew(tuner.chainPem, csr, 7200)) - 7200) <= 5, 'renewed at the entry ttl');
  assert.ok(Math.abs(lifeOfSvid(await id.renew(tuner.chainPem, csr)) - 7200) <= 5, 'and by default');
  await code(id.renew(tuner.chainPem, csr, 7201), 'WARDEN_IDENTITY_TTL_INVALID');
  assert.ok(Math.abs(lifeOfSvid(await id.renew(svid.chainPem, csr)) - 3600) <= 5, 'an SVID of the default lifetime renews at the default');
  await cp.ca.revoke({ spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer' });
  await code(client.attest({ csr, k8sToken: await k8s.mint(), spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer' }), 'WARDEN_IDENTITY_REVOKED');

  // Without identity.k8s.issuer the attestor is off.
  const off = new IdentityService(cp.ca, cp.ctx.db, { ...cp.ctx.config.identity, k8s: { issuer: '', jwksUrl: '', jwksFile: '', audience: 'warden' } });
  await code(off.attest({ csr, k8sToken: await k8s.mint() }), 'WARDEN_IDENTITY_ATTESTOR_DISABLED');
});

test('join tokens are one-time even under a race; expired and malformed tokens are refused; a bad CSR does not burn a token', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const id = await getIdentityService(cp.ctx);
  const { token } = await id.tokens.create({ spiffeId: 'spiffe://warden.local/svc/race', ttlSeconds: 60 });
  await assert.rejects(id.attest({ csr: 'garbage', joinToken: token }), { code: 'WARDEN_IDENTITY_CSR_INVALID' });
  const results = await Promise.allSettled(Array.from({ length: 8 }, () => id.attest({ csr: createWorkloadKey().csrPem, joinToken: token })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one agent wins the token');
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'WARDEN_IDENTITY_JOIN_TOKEN_USED');
  const old = await id.tokens.create({ spiffeId: 'spiffe://warden.local/svc/late', ttlSeconds: 10, now: new Date(Date.now() - 60_000) });
  await assert.rejects(id.attest({ csr: createWorkloadKey().csrPem, joinToken: old.token }), { code: 'WARDEN_IDENTITY_JOIN_TOKEN_INVALID' });
  await assert.rejects(id.attest({ csr: createWorkloadKey().csrPem, joinToken: 'wjt_short' }), { code: 'WARDEN_IDENTITY_JOIN_TOKEN_INVALID' });
  await assert.rejects(id.tokens.create({ spiffeId: 'spiffe://other.org/x', ttlSeconds: 60 }), { code: 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH' });
  // Only a hash is stored.
  const rows = await cp.ctx.db.query<{ hash: string }>('SELECT hash FROM identity_join_tokens');
  assert.ok(rows.rows.every((r) => /^[0-9a-f]{64}$/.test(r.hash) && r.hash !== token));
});

test('identity routes: admin routes need the admin token, workload routes authenticate by SVID, bad input is a 400 with a code', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const anon = new Agent({ connect: { ca: cp.ca.bundlePem() } });
  t.after(() => anon.close());
  const go = async (method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}, dispatcher = anon) => {
    const r = await request(cp.url + '/api/v1' + path, { method, dispatcher, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    let json: { error?: { code: string } } & Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {
      /* PEM / DER */
    }
    return { status: r.statusCode, json, text, type: String(r.headers['content-type']) };
  };
  assert.equal((await go('POST', '/identity/tokens', { spiffeId: 'spiffe://warden.local/a' })).status, 401);
  assert.equal((await go('POST', '/identity/revoke', { spiffeId: 'spiffe://warden.local/a' })).status, 401);
  assert.equal((await go('GET', '/identity/entries')).status, 401);
  const noCert = await go('POST', '/identity/renew', { csr: createWorkloadKey().csrPem });
  assert.equal(noCert.status, 401);
  assert.equal(noCert.json.error?.code, 'WARDEN_IDENTITY_SVID_MISSING');
  assert.equal((await go('GET', '/identity/revocations/stream')).status, 401);
  assert.equal((await go('POST', '/identity/jwt', { audience: 'x' })).json.error?.code, 'WARDEN_IDENTITY_SVID_MISSING');
  const bad = await go('POST', '/identity/attest', { csr: 'x', joinToken: 'y', extra: 1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error?.code, 'WARDEN_INPUT_INVALID');
  const bundle = await go('GET', '/identity/bundle');
  assert.equal(bundle.text, cp.ca.bundlePem());
  const jwks = await go('GET', '/identity/bundle.json');
  assert.ok(Array.isArray(jwks.json.keys));
  const crl = await request(cp.url + '/api/v1/identity/crl', { dispatcher: anon });
  assert.equal(crl.headers['content-type'], 'application/pkix-crl');
  assert.ok(new x509.X509Crl(Buffer.from(await crl.body.arrayBuffer())).issuer.includes('Warden Intermediate CA'));
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const issued = await go('POST', '/identity/issue', { csr: createWorkloadKey().csrPem, spiffeId: 'spiffe://warden.local/svc/x', ttlSeconds: 10 ** 8 }, admin);
  assert.equal(issued.json.error?.code, 'WARDEN_IDENTITY_TTL_INVALID');
  assert.equal((await go('POST', '/identity/revoke', { serial: 'deadbeef' }, admin)).json.error?.code, 'WARDEN_IDENTITY_REVOCATION_NOT_FOUND');
  assert.equal((await go('POST', '/identity/revoke', {}, admin)).json.error?.code, 'WARDEN_USAGE');

  // A workload renews and fetches a JWT-SVID with its SVID; a revoked one cannot.
  const me = await issueMaterial(cp.ca, 'spiffe://warden.local/svc/renewer');
  const mtls = new Agent({ connect: { ca: cp.ca.bundlePem(), cert: me.chainPem, key: me.keyPem } });
  t.after(() => mtls.close());
  const renewed = await go('POST', '/identity/renew', { csr: createWorkloadKey().csrPem }, {}, mtls);
  assert.equal(renewed.status, 200);
  assert.equal(renewed.json.spiffeId, 'spiffe://warden.local/svc/renewer');
  const snapshot = await go('GET', '/identity/revocations', undefined, {}, mtls);
  assert.equal(snapshot.status, 200);
  const minted = await go('POST', '/identity/jwt', { audience: 'billing' }, {}, mtls);
  assert.equal(minted.status, 200);
  const changed = new Promise((r) => cp.ctx.events.once('snapshot:changed', r));
  assert.equal((await go('POST', '/identity/revoke', { serial: me.serial, reason: 'test' }, admin)).status, 200);
  await changed;
  const after = await go('POST', '/identity/renew', { csr: createWorkloadKey().csrPem }, {}, mtls);
  assert.equal(after.status, 403);
  assert.equal(after.json.error?.code, 'WARDEN_IDENTITY_REVOKED');
  const rec = cp.audit.records.find((r) => r.action === 'identity.revoke');
  assert.equal(rec?.kind, 'admin');
  assert.equal(rec?.principal, 'Admin::"adm_test"');

  // A workload attests with a join token.
  const created = await go('POST', '/identity/tokens', { spiffeId: 'spiffe://warden.local/svc/joiner' }, admin);
  const joinToken = created.json.token as string;
  const claimed = await go('POST', '/identity/attest', { csr: createWorkloadKey().csrPem, joinToken: 'wjt_not-a-token', spiffeId: 'spiffe://warden.local/svc/victim' });
  assert.equal(claimed.status >= 400, true);
  const attested = await go('POST', '/identity/attest', { csr: createWorkloadKey().csrPem, joinToken });
  assert.equal(attested.status, 200);
  assert.equal((await go('POST', '/identity/attest', { csr: createWorkloadKey().csrPem, joinToken })).status >= 400, true, 'a used token is refused');

  // Every credential a workload asked for is an audit event, allowed or refused: who, from where, which serial.
  const events = (action: string) => cp.audit.records.filter((r) => r.action === action);
  const loopback = /^(::ffff:)?127\.0\.0\.1$/;
  const [renewDenied, renewAllowed, renewRevoked] = events('identity.workload.renew');
  assert.deepEqual([renewDenied?.decision, renewDenied?.code, renewDenied?.principal], ['deny', 'WARDEN_IDENTITY_SVID_MISSING', undefined]);
  assert.match(renewDenied!.sourceIp!, loopback);
  assert.equal(renewAllowed?.kind, 'event');
  assert.equal(renewAllowed?.decision, 'allow');
  assert.equal(renewAllowed?.principal, 'Service::"spiffe://warden.local/svc/renewer"');
  assert.equal(renewAllowed?.details?.serial, renewed.json.serial);
  assert.equal(renewAllowed?.details?.callerSerial, me.serial);
  assert.deepEqual([renewRevoked?.decision, renewRevoked?.code], ['deny', 'WARDEN_IDENTITY_REVOKED']);
  const [jwtDenied, jwtAllowed] = events('identity.workload.jwt');
  assert.deepEqual([jwtDenied?.decision, jwtDenied?.code], ['deny', 'WARDEN_IDENTITY_SVID_MISSING']);
  assert.deepEqual([jwtAllowed?.decision, jwtAllowed?.resource, jwtAllowed?.details?.audience, jwtAllowed?.details?.callerSerial], ['allow', 'spiffe://warden.local/svc/renewer', 'billing', me.serial]);
  // A body that does not parse is not recorded (anyone could grow the log); a refused claim names
  // the SPIFFE ID it asked for only as a detail, never as the principal.
  const [attestClaimed, attestAllowed, attestReused] = events('identity.workload.attest');
  assert.deepEqual([attestClaimed?.decision, attestClaimed?.principal, attestClaimed?.details?.requestedSpiffeId], ['deny', undefined, 'spiffe://warden.local/svc/victim']);
  assert.deepEqual([attestAllowed?.decision, attestAllowed?.resource, attestAllowed?.details?.serial, attestAllowed?.details?.attestor], ['allow', 'spiffe://warden.local/svc/joiner', attested.json.serial, 'join_token']);
  assert.equal(attestAllowed?.details?.attestedBy, attested.json.attestedBy);
  assert.match(attestAllowed!.sourceIp!, loopback);
  assert.equal(attestReused?.decision, 'deny');
  // Never the join token (nor a JWT) in the log.
  assert.ok(!JSON.stringify(cp.audit.records).includes(joinToken));
  assert.ok(!JSON.stringify(cp.audit.records).includes(minted.json.token as string));
});

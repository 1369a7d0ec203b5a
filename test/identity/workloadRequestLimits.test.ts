// What a workload may ask the control plane for itself (docs/identity.md, "Lifetimes a workload
// may request"): SVID and JWT-SVID lifetimes capped by the configured defaults, JWT-SVIDs bound to
// the X.509-SVID they were minted with; join tokens not burned by a request that fails anyway; no
// join token or registration entry for the control plane's reserved SPIFFE ID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startControlPlane, ADMIN_TOKEN, type TestControlPlane } from './helpers/controlPlane.js';
import { issueMaterial } from './helpers/workloads.js';
import { createWorkloadKey, getIdentityService, verifyJwtSvid, JWT_SVID_SERIAL_CLAIM, RevocationList, type SpiffeBundle } from '../../src/identity/index.js';
import { sha256Hex } from '../../src/crypto/index.js';
import { createAuthenticators, JwtSvidAuthenticator } from '../../src/gateway/authn/index.js';

const TD = 'warden.local';
const SVID_TTL = 600;
const JWT_TTL = 120;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface Answer {
  status: number;
  json: { error?: { code: string } } & Record<string, unknown>;
}

function caller(cp: TestControlPlane, anon: Dispatcher) {
  return async (path: string, body: unknown, o: { headers?: Record<string, string>; dispatcher?: Dispatcher } = {}): Promise<Answer> => {
    const r = await request(`${cp.url}/api/v1${path}`, {
      method: 'POST',
      dispatcher: o.dispatcher ?? anon,
      headers: { 'content-type': 'application/json', ...o.headers },
      body: JSON.stringify(body),
    });
    return { status: r.statusCode, json: (await r.body.json()) as Answer['json'] };
  };
}

async function limitedControlPlane(t: { after: (fn: () => unknown) => void }) {
  const cp = await startControlPlane({ identity: { svidTtlSeconds: SVID_TTL, jwtSvidTtlSeconds: JWT_TTL } });
  const anon = new Agent({ connect: { ca: cp.ca.bundlePem() } });
  t.after(async () => {
    await anon.close();
    await cp.close();
  });
  return { cp, post: caller(cp, anon) };
}

/** An mTLS client holding a fresh X.509-SVID for `spiffeId` (closed after the test). */
async function workload(t: { after: (fn: () => unknown) => void }, cp: TestControlPlane, spiffeId: string, ttlSeconds?: number) {
  const svid = await issueMaterial(cp.ca, spiffeId, ttlSeconds);
  const dispatcher = new Agent({ connect: { ca: cp.ca.bundlePem(), cert: svid.chainPem, key: svid.keyPem } });
  t.after(() => dispatcher.close());
  return { svid, dispatcher };
}

test('JWT-SVIDs a workload mints: lifetime at most identity.jwtSvidTtlSeconds and never past its X.509-SVID; revoking that SVID by serial revokes them at the verifier and the gateway', { timeout: 30_000 }, async (t) => {
  const { cp, post } = await limitedControlPlane(t);
  const id = `spiffe://${TD}/svc/minter`;
  const a = await workload(t, cp, id);
  const b = await workload(t, cp, id);

  const tooLong = await post('/identity/jwt', { audience: 'svc-b', ttlSeconds: 86_400 }, { dispatcher: a.dispatcher });
  assert.equal(tooLong.status, 400);
  assert.equal(tooLong.json.error?.code, 'WARDEN_IDENTITY_TTL_INVALID');
  assert.equal((await post('/identity/jwt', { audience: 'svc-b', ttlSeconds: JWT_TTL + 1 }, { dispatcher: a.dispatcher })).json.error?.code, 'WARDEN_IDENTITY_TTL_INVALID');

  const before = Math.floor(Date.now() / 1000);
  const jwtA = await post('/identity/jwt', { audience: 'svc-b' }, { dispatcher: a.dispatcher });
  assert.equal(jwtA.status, 200);
  const claimsA = decodeJwt(String(jwtA.json.token));
  assert.ok(claimsA.exp! - before <= JWT_TTL + 1 && claimsA.exp! - before >= JWT_TTL - 1, `default lifetime is identity.jwtSvidTtlSeconds (got ${claimsA.exp! - before}s)`);
  assert.equal(claimsA[JWT_SVID_SERIAL_CLAIM], a.svid.serial, 'the token names the SVID it was minted with');
  const exact = await post('/identity/jwt', { audience: 'svc-b', ttlSeconds: JWT_TTL }, { dispatcher: a.dispatcher });
  assert.equal(exact.status, 200);
  const jwtB = await post('/identity/jwt', { audience: 'svc-b' }, { dispatcher: b.dispatcher });
  assert.equal(jwtB.status, 200);

  // An SVID with 60 s left yields a JWT-SVID that ends with it, not 120 s later.
  const short = await workload(t, cp, `spiffe://${TD}/svc/short`, 60);
  const clamped = await post('/identity/jwt', { audience: 'svc-b' }, { dispatcher: short.dispatcher });
  assert.equal(clamped.status, 200);
  const exp = decodeJwt(String(clamped.json.token)).exp! * 1000;
  assert.ok(exp <= short.svid.notAfter.getTime() && exp >= short.svid.notAfter.getTime() - 2000, `exp ${new Date(exp).toISOString()} vs SVID notAfter ${short.svid.notAfter.toISOString()}`);
  assert.equal(Date.parse(String(clamped.json.expiresAt)), exp);

  // An SVID past its notAfter but inside the clock-skew allowance mints nothing.
  const ending = await workload(t, cp, `spiffe://${TD}/svc/ending`, 1);
  await sleep(Math.max(0, ending.svid.notAfter.getTime() + 1100 - Date.now()));
  const late = await post('/identity/jwt', { audience: 'svc-b' }, { dispatcher: ending.dispatcher });
  assert.equal(late.status, 401);
  assert.equal(late.json.error?.code, 'WARDEN_IDENTITY_SVID_EXPIRED');

  const authn = createAuthenticators(
    { jwtIssuers: [], jwtSvidAudience: 'svc-b', mtls: false },
    { trustDomain: TD, bundle: () => cp.ca.jwks(), bundlePem: () => cp.ca.bundlePem(), revocations: cp.ca.revocations },
  );
  const verify = (token: unknown) => verifyJwtSvid(String(token), cp.ca.jwks(), { audience: 'svc-b', trustDomain: TD, revocations: cp.ca.revocations });
  assert.equal((await verify(jwtA.json.token)).svidSerial, a.svid.serial);
  assert.equal((await authn.bearer.authenticate(String(jwtA.json.token)))?.serial, a.svid.serial);

  assert.equal((await post('/identity/revoke', { serial: a.svid.serial, reason: 'leaked' }, { headers: admin })).status, 200);
  await assert.rejects(verify(jwtA.json.token), { code: 'WARDEN_IDENTITY_REVOKED' });
  await assert.rejects(verify(exact.json.token), { code: 'WARDEN_IDENTITY_REVOKED' });
  await assert.rejects(authn.bearer.authenticate(String(jwtA.json.token)), { code: 'WARDEN_IDENTITY_REVOKED' });
  // Only that SVID's tokens: the same SPIFFE ID's other SVID still mints tokens that verify.
  assert.equal((await verify(jwtB.json.token)).spiffeId, id);
  assert.equal((await authn.bearer.authenticate(String(jwtB.json.token)))?.serial, b.svid.serial);

  // Admin-issued JWT-SVIDs keep the admin's range and carry no serial.
  const adminJwt = await post('/identity/jwt-svids', { spiffeId: id, audience: 'svc-b', ttlSeconds: 3600 }, { headers: admin });
  assert.equal(adminJwt.status, 200);
  assert.equal(decodeJwt(String(adminJwt.json.token))[JWT_SVID_SERIAL_CLAIM], undefined);
});

test('X.509-SVIDs a workload asks for (attest, renew): at most identity.svidTtlSeconds; an admin still issues up to maxSvidTtlSeconds', { timeout: 30_000 }, async (t) => {
  const { cp, post } = await limitedControlPlane(t);
  const me = await workload(t, cp, `spiffe://${TD}/svc/renewer`);
  const tooLong = await post('/identity/renew', { csr: createWorkloadKey().csrPem, ttlSeconds: 86_400 }, { dispatcher: me.dispatcher });
  assert.equal(tooLong.status, 400);
  assert.equal(tooLong.json.error?.code, 'WARDEN_IDENTITY_TTL_INVALID');
  assert.equal((await post('/identity/renew', { csr: createWorkloadKey().csrPem, ttlSeconds: SVID_TTL + 1 }, { dispatcher: me.dispatcher })).json.error?.code, 'WARDEN_IDENTITY_TTL_INVALID');
  const renewed = await post('/identity/renew', { csr: createWorkloadKey().csrPem, ttlSeconds: SVID_TTL }, { dispatcher: me.dispatcher });
  assert.equal(renewed.status, 200);
  const life = (Date.parse(String(renewed.json.notAfter)) - Date.now()) / 1000;
  assert.ok(life <= SVID_TTL && life > SVID_TTL - 10, `renewed for ${life}s`);

  const identity = await getIdentityService(cp.ctx);
  const { token } = await identity.tokens.create({ spiffeId: `spiffe://${TD}/svc/joiner`, ttlSeconds: 60 });
  const attestTooLong = await post('/identity/attest', { csr: createWorkloadKey().csrPem, joinToken: token, ttlSeconds: SVID_TTL + 1 });
  assert.equal(attestTooLong.status, 400);
  assert.equal(attestTooLong.json.error?.code, 'WARDEN_IDENTITY_TTL_INVALID');

  const issued = await post('/identity/issue', { csr: createWorkloadKey().csrPem, spiffeId: `spiffe://${TD}/svc/long`, ttlSeconds: 86_400 }, { headers: admin });
  assert.equal(issued.status, 200);
  assert.ok(Date.parse(String(issued.json.notAfter)) - Date.now() > 86_000_000, 'an admin may issue a day-long SVID');
});

test('a join token survives a request that fails anyway: bad lifetime, revoked or reserved SPIFFE ID; the retry with a correct body succeeds', { timeout: 30_000 }, async (t) => {
  const { cp, post } = await limitedControlPlane(t);
  const identity = await getIdentityService(cp.ctx);
  const usedAt = async (tokenId: string) => (await cp.ctx.db.query<{ used_at: Date | null }>('SELECT used_at FROM identity_join_tokens WHERE id = $1', [tokenId])).rows[0]?.used_at ?? null;

  const { token, record } = await identity.tokens.create({ spiffeId: `spiffe://${TD}/svc/careful`, ttlSeconds: 60 });
  const wrongTtl = await post('/identity/attest', { csr: createWorkloadKey().csrPem, joinToken: token, ttlSeconds: 999_999 });
  assert.equal(wrongTtl.status, 400);
  assert.equal(wrongTtl.json.error?.code, 'WARDEN_IDENTITY_TTL_INVALID');
  assert.equal(await usedAt(record.id), null, 'not used up by a refused lifetime');
  const retry = await post('/identity/attest', { csr: createWorkloadKey().csrPem, joinToken: token });
  assert.equal(retry.status, 200);
  assert.equal(retry.json.spiffeId, `spiffe://${TD}/svc/careful`);
  assert.equal((await post('/identity/attest', { csr: createWorkloadKey().csrPem, joinToken: token })).json.error?.code, 'WARDEN_IDENTITY_JOIN_TOKEN_USED');

  const revokedId = `spiffe://${TD}/svc/gone`;
  const forRevoked = await identity.tokens.create({ spiffeId: revokedId, ttlSeconds: 60 });
  await cp.ca.revoke({ spiffeId: revokedId, reason: 'test' });
  const refused = await post('/identity/attest', { csr: createWorkloadKey().csrPem, joinToken: forRevoked.token });
  assert.equal(refused.status, 403);
  assert.equal(refused.json.error?.code, 'WARDEN_IDENTITY_REVOKED');
  assert.equal(await usedAt(forRevoked.record.id), null, 'not used up by a revoked ID');

  // A token for the reserved ID from before creation refused it (written straight to the table).
  const legacy = `wjt_${randomBytes(32).toString('base64url')}`;
  await cp.ctx.db.query('INSERT INTO identity_join_tokens (id, hash, spiffe_id, expires_at, created_at) VALUES ($1,$2,$3,$4,$5)', [
    'jt_legacy',
    sha256Hex(legacy),
    `spiffe://${TD}/warden/server`,
    new Date(Date.now() + 60_000),
    new Date(),
  ]);
  const reserved = await post('/identity/attest', { csr: createWorkloadKey().csrPem, joinToken: legacy });
  assert.equal(reserved.status, 400);
  assert.equal(reserved.json.error?.code, 'WARDEN_INPUT_INVALID');
  assert.equal(await usedAt('jt_legacy'), null, 'not used up by a reserved ID');
});

test('join tokens and registration entries cannot name the control plane\'s SPIFFE ID (400 WARDEN_INPUT_INVALID, nothing stored)', { timeout: 30_000 }, async (t) => {
  const { cp, post } = await limitedControlPlane(t);
  const reserved = `spiffe://${TD}/warden/server`;
  const token = await post('/identity/tokens', { spiffeId: reserved }, { headers: admin });
  assert.equal(token.status, 400);
  assert.equal(token.json.error?.code, 'WARDEN_INPUT_INVALID');
  const entry = await post('/identity/entries', { spiffeId: reserved, selectors: ['k8s:ns:warden'] }, { headers: admin });
  assert.equal(entry.status, 400);
  assert.equal(entry.json.error?.code, 'WARDEN_INPUT_INVALID');
  const stored = await cp.ctx.db.query<{ n: number }>(
    'SELECT (SELECT count(*) FROM identity_join_tokens WHERE spiffe_id = $1)::int + (SELECT count(*) FROM identity_entries WHERE spiffe_id = $1)::int AS n',
    [reserved],
  );
  assert.equal(stored.rows[0]?.n, 0);
  // The other checks are unchanged: a foreign trust domain, and IDs under the reserved path are workloads'.
  assert.equal((await post('/identity/tokens', { spiffeId: 'spiffe://other.org/warden/server' }, { headers: admin })).json.error?.code, 'WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH');
  assert.equal((await post('/identity/tokens', { spiffeId: `${reserved}/replica` }, { headers: admin })).status, 201);
  assert.equal((await post('/identity/entries', { spiffeId: `spiffe://${TD}/warden/gateway/gw-1`, selectors: ['k8s:ns:warden'] }, { headers: admin })).status, 201);
});

test('a JWT-SVID whose minting-serial claim is not a serial is refused by the verifier and the gateway, not read as "no serial"', async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const bundle: SpiffeBundle = { keys: [{ ...(await exportJWK(publicKey)), kty: 'EC', kid: 'k1', use: 'jwt-svid' }], spiffe_sequence: 1, spiffe_refresh_hint: 300 };
  const mint = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' }).setSubject(`spiffe://${TD}/svc/x`).setAudience('svc-b').setIssuedAt().setExpirationTime('2m').sign(privateKey);
  const revocations = new RevocationList();
  await revocations.add({ kind: 'serial', value: 'abc123' });
  const gateway = new JwtSvidAuthenticator({ trustDomain: TD, audience: 'svc-b', bundle: () => bundle, isRevoked: (id, serial) => revocations.isRevoked(id, serial) });
  const verify = (token: string) => verifyJwtSvid(token, bundle, { audience: 'svc-b', trustDomain: TD, revocations });
  for (const bad of [123, 'ABC123', 'xyz', '', 'a'.repeat(41), ['abc123']]) {
    const token = await mint({ [JWT_SVID_SERIAL_CLAIM]: bad });
    await assert.rejects(verify(token), { code: 'WARDEN_IDENTITY_JWT_INVALID' }, JSON.stringify(bad));
    await assert.rejects(gateway.authenticate(token), { code: 'WARDEN_AUTHN_TOKEN_INVALID' }, JSON.stringify(bad));
  }
  const revoked = await mint({ [JWT_SVID_SERIAL_CLAIM]: 'abc123' });
  await assert.rejects(verify(revoked), { code: 'WARDEN_IDENTITY_REVOKED' });
  await assert.rejects(gateway.authenticate(revoked), { code: 'WARDEN_IDENTITY_REVOKED' });
  const fine = await mint({ [JWT_SVID_SERIAL_CLAIM]: 'abc124' });
  assert.equal((await verify(fine)).svidSerial, 'abc124');
  assert.equal((await gateway.authenticate(fine)).serial, 'abc124');
  assert.equal((await verify(await mint({}))).svidSerial, undefined, 'no claim (admin-issued): checked by SPIFFE ID only');
});

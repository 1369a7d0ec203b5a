import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { JwtAuthenticator, type JwtIssuerOptions } from '../../../src/gateway/authn/index.js';
import { TestIssuer, makeKey, type TestKey } from './helpers.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadOrCreateAuthority } from '../../../src/identity/index.js';

let idp: TestIssuer;
let idp2: TestIssuer;
let k1: TestKey;
let k2: TestKey;
let other: TestKey;
let now = Date.UTC(2026, 0, 1);
const clock = (): number => now;
const sec = (): number => Math.floor(now / 1000);

function issuerConfig(t: TestIssuer, extra: Partial<JwtIssuerOptions> = {}): JwtIssuerOptions {
  return { issuer: t.issuer, audience: 'warden-gateway', jwksUri: t.url, clockSkewSeconds: 30, jwksCacheMaxAgeSeconds: 600, jwksRefreshSeconds: 120, jwksMinRefetchSeconds: 10, allowedAlgorithms: ['ES256', 'RS256'], ...extra };
}

before(async () => {
  idp = await new TestIssuer('https://idp.example.test/').start();
  idp2 = await new TestIssuer('https://login.other.test').start();
  k1 = await makeKey('k1');
  k2 = await makeKey('k2', 'RS256');
  other = await makeKey('k1'); // same kid as k1, different key material
  idp.keys = [k1];
  idp2.keys = [await makeKey('o1')];
});
after(async () => {
  await idp.stop();
  await idp2.stop();
});

test('valid token → User principal with Group and Tenant parents from the claims', async () => {
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp)], now: clock });
  const token = await idp.sign(k1, { sub: 'alice', nowSeconds: sec(), claims: { groups: ['ml-eng', 'admins'], tenant: 'acme' } });
  const p = await auth.authenticate(token);
  assert.deepEqual(p, {
    entity: { type: 'User', id: 'alice' },
    id: 'alice',
    method: 'jwt',
    issuer: 'https://idp.example.test/',
    parents: [{ type: 'Group', id: 'ml-eng' }, { type: 'Group', id: 'admins' }, { type: 'Tenant', id: 'acme' }],
    mfa: false,
    tenant: 'acme',
  });
  // Nested claim paths (Keycloak style) and custom principal type.
  const auth2 = new JwtAuthenticator({ issuers: [issuerConfig(idp, { groupsClaim: 'realm_access.roles', tenantClaim: 'org', principalType: 'Person' })], now: clock });
  const p2 = await auth2.authenticate(await idp.sign(k1, { sub: 'bob', nowSeconds: sec(), claims: { realm_access: { roles: ['r1'] }, org: 'o' } }));
  assert.deepEqual(p2.entity, { type: 'Person', id: 'bob' });
  assert.deepEqual(p2.parents, [{ type: 'Group', id: 'r1' }, { type: 'Tenant', id: 'o' }]);
});

test('a groups or tenant claim that is present but unusable refuses the token (a forbid on it must not silently stop applying)', async () => {
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp)], now: clock });
  const refused = async (claims: Record<string, unknown>, what: RegExp) => {
    await assert.rejects(auth.authenticate(await idp.sign(k1, { sub: 'mallory', nowSeconds: sec(), claims })), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, 'WARDEN_AUTHN_TOKEN_INVALID');
      assert.match(err.message ?? '', what);
      return true;
    });
  };
  await refused({ groups: [...Array.from({ length: 256 }, (_, i) => `g${i}`), 'contractors'] }, /more than 256 groups/);
  await refused({ groups: ['staff', 42] }, /groups claim holds a value/);
  await refused({ groups: ['staff', 'x'.repeat(257)] }, /groups claim holds a value/);
  await refused({ groups: { staff: true } }, /neither a list nor a string/);
  await refused({ groups: ['staff'], tenant: ['globex'] }, /tenant claim is not a string/);
  await refused({ tenant: '' }, /tenant claim/);
  // 256 groups and a space-separated string (extra spaces ignored) are fine.
  const many = await auth.authenticate(await idp.sign(k1, { sub: 'a', nowSeconds: sec(), claims: { groups: Array.from({ length: 256 }, (_, i) => `g${i}`) } }));
  assert.equal(many.parents.length, 256);
  const spaced = await auth.authenticate(await idp.sign(k1, { sub: 'b', nowSeconds: sec(), claims: { groups: 'staff  ml' } }));
  assert.deepEqual(spaced.parents, [{ type: 'Group', id: 'staff' }, { type: 'Group', id: 'ml' }]);
});

test('namespaced claim names with dots (Auth0) are read as one key before being read as a path', async () => {
  const ns = 'https://warden.example.com/';
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp, { groupsClaim: `${ns}groups`, tenantClaim: `${ns}tenant` })], now: clock });
  const p = await auth.authenticate(await idp.sign(k1, { sub: 'carol', nowSeconds: sec(), claims: { [`${ns}groups`]: ['staff', 'contractors'], [`${ns}tenant`]: 'globex' } }));
  assert.deepEqual(p.parents, [{ type: 'Group', id: 'staff' }, { type: 'Group', id: 'contractors' }, { type: 'Tenant', id: 'globex' }]);
});

test('mfa comes from amr containing "mfa" or from an acr the issuer names as multi-factor', async () => {
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp, { mfaAcrValues: ['urn:example:loa:mfa'] })], now: clock });
  const mfaOf = async (claims: Record<string, unknown>) => (await auth.authenticate(await idp.sign(k1, { sub: 'dana', nowSeconds: sec(), claims }))).mfa;
  assert.equal(await mfaOf({ amr: ['pwd', 'otp', 'mfa'] }), true);
  assert.equal(await mfaOf({ acr: 'urn:example:loa:mfa' }), true);
  assert.equal(await mfaOf({ amr: ['pwd'] }), false);
  assert.equal(await mfaOf({ acr: 'urn:example:loa:1' }), false);
  assert.equal(await mfaOf({ amr: 'mfa' }), false, 'amr is a list (RFC 8176); a string is not trusted');
  assert.equal(await mfaOf({}), false);
});

test('expired, not yet valid, wrong audience, wrong issuer, missing sub: distinct codes', async () => {
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp)], now: clock });
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec() - 400, expIn: 300 })), { code: 'WARDEN_AUTHN_TOKEN_EXPIRED', status: 401 });
  // Within the clock skew an expired-by-20s token is still accepted.
  await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() - 320, expIn: 300 }));
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), claims: { nbf: sec() + 120 } })), { code: 'WARDEN_AUTHN_TOKEN_NOT_YET_VALID' });
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), aud: 'someone-else' })), { code: 'WARDEN_AUTHN_TOKEN_AUDIENCE' });
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), iss: 'https://evil.test/' })), { code: 'WARDEN_AUTHN_TOKEN_ISSUER' });
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), sub: null })), { code: 'WARDEN_AUTHN_TOKEN_INVALID', message: /"sub" is missing/ });
  // A signed but non-string subject would become an entity id (["x","y"] keyed like "x,y").
  for (const sub of [12345, ['x', 'y'], { length: 3 }]) {
    await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), sub: null, claims: { sub } })), { code: 'WARDEN_AUTHN_TOKEN_INVALID', message: /not a string/ }, JSON.stringify(sub));
  }
  await assert.rejects(auth.authenticate('not-a.jwt.at-all'), { code: 'WARDEN_AUTHN_TOKEN_INVALID' });
  await assert.rejects(auth.authenticate('only-one-part'), { code: 'WARDEN_AUTHN_TOKEN_INVALID' });
  await assert.rejects(auth.authenticate('x'.repeat(20_000)), { code: 'WARDEN_AUTHN_TOKEN_INVALID' });
});

test('bad signature and disallowed algorithms are refused; error messages never contain the token', async () => {
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp, { allowedAlgorithms: ['ES256'] })], now: clock });
  const forged = await idp.sign(other, { nowSeconds: sec() });
  const err = (await auth.authenticate(forged).then(() => assert.fail("forged token accepted"), (e: unknown) => e)) as Error & { code: string };
  assert.equal(err.code, 'WARDEN_AUTHN_BAD_SIGNATURE');
  assert.ok(!err.message.includes(forged.split('.')[2]!));
  // Payload swapped under a valid signature.
  const good = await idp.sign(k1, { nowSeconds: sec(), sub: 'alice' });
  const evilPayload = Buffer.from(JSON.stringify({ sub: 'root', iss: idp.issuer, aud: 'warden-gateway', exp: sec() + 60 })).toString('base64url');
  const parts = good.split('.');
  await assert.rejects(auth.authenticate(`${parts[0]}.${evilPayload}.${parts[2]}`), { code: 'WARDEN_AUTHN_BAD_SIGNATURE' });
  // RS256 is published by the IdP but not allowed for this issuer.
  idp.keys = [k1, k2];
  await assert.rejects(auth.authenticate(await idp.sign(k2, { nowSeconds: sec() })), { code: 'WARDEN_AUTHN_ALGORITHM_NOT_ALLOWED' });
  idp.keys = [k1];
  // alg "none" never verifies.
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${parts[1]}.`;
  await assert.rejects(auth.authenticate(none), { code: 'WARDEN_AUTHN_ALGORITHM_NOT_ALLOWED' });
});

test('a token without kid while the issuer publishes two keys of its algorithm (rotation): the key that signed it verifies; a forged one does not', async () => {
  const a = await makeKey('rot-a');
  const b = await makeKey('rot-b');
  const issuer = await new TestIssuer('https://rotating.example.test/').start();
  try {
    issuer.keys = [a, b];
    const auth = new JwtAuthenticator({ issuers: [issuerConfig(issuer)], now: clock });
    const signedByB = await issuer.sign(b, { nowSeconds: sec(), sub: 'carol', header: { kid: undefined } });
    assert.ok(!JSON.parse(Buffer.from(signedByB.split('.')[0]!, 'base64url').toString()).kid, 'no kid in the header');
    assert.equal((await auth.authenticate(signedByB))!.id, 'carol');
    const forged = await issuer.sign(await makeKey('x'), { nowSeconds: sec(), sub: 'mallory', header: { kid: undefined } });
    await assert.rejects(auth.authenticate(forged), { code: 'WARDEN_AUTHN_BAD_SIGNATURE' });
    const expired = await issuer.sign(a, { nowSeconds: sec() - 3600, sub: 'carol', header: { kid: undefined } });
    await assert.rejects(auth.authenticate(expired), { code: 'WARDEN_AUTHN_TOKEN_EXPIRED' });
  } finally {
    await issuer.stop();
  }
});

test('unknown kid: one rate-limited refetch, no refetch storm; rotation picks up the new key', async () => {
  now += 1_000_000;
  idp.keys = [k1];
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp)], now: clock });
  await auth.warm();
  // Just fetched: an unknown kid right now does not refetch.
  const early = await idp.sign(await makeKey('early'), { nowSeconds: sec() });
  const hitsWarm = idp.hits;
  await assert.rejects(auth.authenticate(early), { code: 'WARDEN_AUTHN_UNKNOWN_KID' });
  assert.equal(idp.hits, hitsWarm);
  now += 11_000;
  const hits0 = idp.hits;
  const stranger = await makeKey('nobody');
  const tokens = await Promise.all(Array.from({ length: 25 }, () => idp.sign(stranger, { nowSeconds: sec() })));
  const results = await Promise.allSettled(tokens.map((t) => auth.authenticate(t)));
  assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'WARDEN_AUTHN_UNKNOWN_KID'));
  assert.equal(idp.hits - hits0, 1, '25 unknown-kid tokens cause exactly one JWKS fetch');
  // The IdP rotates to k3; within the refetch interval the new kid is still unknown (no fetch) …
  const k3 = await makeKey('k3');
  idp.keys = [k1, k3];
  const rotated = await idp.sign(k3, { nowSeconds: sec() });
  await assert.rejects(auth.authenticate(rotated), { code: 'WARDEN_AUTHN_UNKNOWN_KID' });
  assert.equal(idp.hits - hits0, 1);
  // … after it, one fetch finds k3, and old k1 tokens keep working during the overlap.
  now += 11_000;
  assert.equal((await auth.authenticate(rotated)).id, 'alice');
  assert.equal(idp.hits - hits0, 2);
  await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }));
  // k1 removed by the IdP: after the next background refresh its tokens are refused.
  idp.keys = [k3];
  now += 121_000;
  await auth.authenticate(await idp.sign(k3, { nowSeconds: sec() })); // triggers the background refresh
  await new Promise((r) => setTimeout(r, 50));
  now += 11_000;
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec() })), { code: 'WARDEN_AUTHN_UNKNOWN_KID' });
});

test('JWKS endpoint down: cached keys work until max age, then fail closed; recovery when it is back', async () => {
  now += 10_000_000;
  idp.keys = [k1];
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp, { jwksCacheMaxAgeSeconds: 600, jwksRefreshSeconds: 60 })], now: clock });
  await auth.warm();
  idp.down = true;
  const hits0 = idp.hits;
  now += 300_000; // past the refresh interval: a background refresh fails, the request still passes
  assert.equal((await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }))).id, 'alice');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(idp.hits - hits0, 1, 'one background refresh was attempted');
  for (let i = 0; i < 5; i++) await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(idp.hits - hits0, 1, 'failed background refreshes are not retried on every request');
  now += 290_000; // 590 s after the last good fetch: still within max age
  await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }));
  await new Promise((r) => setTimeout(r, 50)); // let its background refresh attempt finish
  now += 20_000; // 610 s: cached keys are too old → fail closed even for a well-signed token
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec() })), { code: 'WARDEN_AUTHN_JWKS_UNAVAILABLE', status: 503 });
  // No fetch storm while down: further requests within the refetch interval fail without a fetch.
  const hitsDown = idp.hits;
  const burst = await Promise.allSettled(Array.from({ length: 20 }, async () => auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }))));
  assert.ok(burst.every((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'WARDEN_AUTHN_JWKS_UNAVAILABLE'));
  assert.equal(idp.hits, hitsDown, JSON.stringify(burst.map((r) => (r.status === "rejected" ? (r.reason as { code: string }).code : "ok"))));
  // Back up: the next attempt after the interval recovers.
  idp.down = false;
  now += 11_000;
  assert.equal((await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }))).id, 'alice');
});

test('JWKS never reachable: first request fails closed', async () => {
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp, { jwksUri: 'http://127.0.0.1:1/jwks.json' })], now: clock, fetchTimeoutMs: 500 });
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec() })), { code: 'WARDEN_AUTHN_JWKS_UNAVAILABLE' });
});

test('failed JWKS fetches are logged (why, until when cached keys serve, then that tokens are refused), and the recovery; never the URL\'s query', async () => {
  const logs: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const logger = Object.fromEntries(['warn', 'error', 'info'].map((level) => [level, (fields: Record<string, unknown>, msg: string) => void logs.push({ level, fields, msg })])) as never;
  now += 10_000_000;
  idp.keys = [k1];
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp, { jwksCacheMaxAgeSeconds: 600, jwksRefreshSeconds: 60 })], now: clock, logger });
  await auth.warm();
  assert.equal(logs.length, 0, 'a good fetch is not logged');
  idp.down = true;
  now += 300_000;
  await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(logs.map((l) => [l.level, l.fields.reason, l.fields.jwks]), [['warn', 'JWKS endpoint answered 503', idp.url]]);
  assert.equal(logs[0]!.fields.cachedKeysUntil, new Date(now - 300_000 + 600_000).toISOString());
  now += 310_000; // past max age
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec() })), { code: 'WARDEN_AUTHN_JWKS_UNAVAILABLE' });
  assert.equal(logs.at(-1)!.level, 'error');
  assert.match(logs.at(-1)!.msg, /tokens from this issuer are refused/);
  idp.down = false;
  now += 11_000;
  await auth.authenticate(await idp.sign(k1, { nowSeconds: sec() }));
  assert.deepEqual([logs.at(-1)!.level, logs.at(-1)!.msg], ['info', 'JWKS fetched again']);

  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const secretQuery = new JwtAuthenticator({ issuers: [issuerConfig(idp, { jwksUri: `http://127.0.0.1:${port}/jwks.json?api_key=s3cr3t-value` })], now: clock, fetchTimeoutMs: 500, logger });
  await secretQuery.warm();
  assert.deepEqual([logs.at(-1)!.level, logs.at(-1)!.fields.reason, logs.at(-1)!.fields.jwks], ['error', 'ECONNREFUSED', `http://127.0.0.1:${port}/jwks.json`]);
  assert.ok(!JSON.stringify(logs).includes('s3cr3t'), 'the query is never logged');
});

test('several issuers are dispatched by iss; each keeps its own audience and keys', async () => {
  const partner = { principalType: 'PartnerUser', groupType: 'PartnerGroup', tenantType: 'PartnerTenant' };
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp), issuerConfig(idp2, { audience: ['api://warden', 'other'], tenantClaim: 'tid', ...partner })], now: clock });
  assert.equal((await auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), sub: 'a' }))).id, 'a');
  // The second issuer's names live in its own types: its "alice" is not the first issuer's, its
  // groups and tenants are not the first issuer's either (nor their rate-limit buckets).
  const p = await auth.authenticate(await idp2.sign(idp2.keys[0]!, { nowSeconds: sec(), sub: 'alice', aud: 'api://warden', claims: { tid: 't-9', groups: ['admins'] } }));
  assert.deepEqual(p.entity, { type: 'PartnerUser', id: 'alice' });
  assert.deepEqual(p.parents, [{ type: 'PartnerGroup', id: 'admins' }, { type: 'PartnerTenant', id: 't-9' }]);
  assert.equal(p.tenant, 'PartnerTenant::"t-9"');
  // A key of issuer 1 cannot sign for issuer 2.
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), iss: idp2.issuer, aud: 'api://warden' })), { code: 'WARDEN_AUTHN_UNKNOWN_KID' });
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), iss: 'https://unknown.test' })), { code: 'WARDEN_AUTHN_TOKEN_ISSUER' });
  await assert.rejects(auth.authenticate(await idp.sign(k1, { nowSeconds: sec(), iss: null })), { code: 'WARDEN_AUTHN_TOKEN_ISSUER' });
});

test('unsafe configuration is refused', () => {
  assert.throws(() => new JwtAuthenticator({ issuers: [{ ...issuerConfig(idp), jwksUri: 'http://idp.example.test/jwks' }] }), { code: 'WARDEN_CONFIG_INVALID' });
  assert.throws(() => new JwtAuthenticator({ issuers: [{ ...issuerConfig(idp), allowedAlgorithms: ['HS256'] }] }), { code: 'WARDEN_CONFIG_INVALID' });
  assert.throws(() => new JwtAuthenticator({ issuers: [issuerConfig(idp), issuerConfig(idp)] }), { code: 'WARDEN_CONFIG_INVALID' });
  assert.throws(() => new JwtAuthenticator({ issuers: [] }), { code: 'WARDEN_CONFIG_INVALID' });
});

test('verified-token cache: bounded by exp, by its TTL and by the JWKS max age; principal is frozen', async () => {
  now += 50_000_000;
  idp.keys = [k1];
  idp.down = false;
  const auth = new JwtAuthenticator({ issuers: [issuerConfig(idp, { jwksCacheMaxAgeSeconds: 120, jwksRefreshSeconds: 100 })], now: clock, verifiedCacheSeconds: 60 });
  const token = await idp.sign(k1, { nowSeconds: sec(), expIn: 90, claims: { groups: ['g'] } });
  const p1 = await auth.authenticate(token);
  const p2 = await auth.authenticate(token);
  assert.equal(p1, p2, 'second presentation is served from the cache');
  assert.ok(Object.isFrozen(p1) && Object.isFrozen(p1.parents));
  // Past exp (+ the 30 s skew): the cache does not outlive the token.
  now += 125_000;
  await assert.rejects(auth.authenticate(token), { code: 'WARDEN_AUTHN_TOKEN_EXPIRED' });
  // JWKS down past its max age: a cached token fails closed too.
  // (that call refetched the JWKS, whose keys were past max age). Keys now 70 s old:
  now += 70_000;
  const fresh = await idp.sign(k1, { nowSeconds: sec(), expIn: 3600 });
  await auth.authenticate(fresh);
  idp.down = true;
  now += 55_000; // cached entry still within its 60 s, but the keys are 125 s old (> 120)
  await assert.rejects(auth.authenticate(fresh), { code: 'WARDEN_AUTHN_JWKS_UNAVAILABLE' });
  idp.down = false;
  // Disabled cache: every call verifies (a forged copy with the same kid is never "remembered").
  const noCache = new JwtAuthenticator({ issuers: [issuerConfig(idp)], now: clock, verifiedCacheSize: 0 });
  const t = await idp.sign(k1, { nowSeconds: sec() });
  assert.notEqual(await noCache.authenticate(t), await noCache.authenticate(t));
});

test('an issuer whose JWKS endpoint has an internal CA: trusted only with jwksCaFile; an unreadable file is a config error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-jwks-ca-'));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'idp.internal' });
  const internal = new TestIssuer('https://sso.corp.internal/');
  try {
    const cert = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    await internal.start({ certPem: cert.chainPem, keyPem: cert.keyPem });
    internal.keys = [k1];
    const caFile = join(dir, 'idp-ca.pem');
    writeFileSync(caFile, ca.bundlePem());
    const token = await internal.sign(k1, { sub: 'carol', nowSeconds: sec() });

    const systemStore = new JwtAuthenticator({ issuers: [issuerConfig(internal)], now: clock, fetchTimeoutMs: 2000 });
    await assert.rejects(systemStore.authenticate(token), { code: 'WARDEN_AUTHN_JWKS_UNAVAILABLE' });
    const pinned = new JwtAuthenticator({ issuers: [issuerConfig(internal, { jwksCaFile: caFile })], now: clock, fetchTimeoutMs: 2000 });
    assert.equal((await pinned.authenticate(token)).id, 'carol');

    assert.throws(() => new JwtAuthenticator({ issuers: [issuerConfig(internal, { jwksCaFile: join(dir, 'missing.pem') })] }), { code: 'WARDEN_CONFIG_INVALID', message: /jwksCaFile/ });
    writeFileSync(join(dir, 'not-pem.txt'), 'hello');
    assert.throws(() => new JwtAuthenticator({ issuers: [issuerConfig(internal, { jwksCaFile: join(dir, 'not-pem.txt') })] }), { code: 'WARDEN_CONFIG_INVALID' });
  } finally {
    await internal.stop();
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

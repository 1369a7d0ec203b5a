// After a CA rotation a remote gateway accepts credentials under the new key or root at once: an
// unknown JWT key ID or X.509 root makes it fetch the SPIFFE bundle again (rate-limited, so forged
// key IDs cannot hammer the control plane) instead of refusing until the periodic refresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { createWorkloadKey } from '../../src/identity/index.js';
import { createAuthenticators } from '../../src/gateway/index.js';
import { startEdgeWorkloadTrust } from '../../src/server/edgeWorkloadTrust.js';
import { refreshIntervalMs, SpiffeBundleFollower } from '../../src/server/spiffeBundleFollower.js';
import { startTestGateway } from '../helpers/inProcessGateway.js';
import { startControlPlane } from '../identity/helpers/controlPlane.js';

const AUDIENCE = 'gw.test';

async function until(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

test('spiffe_refresh_hint sets the refresh interval, clamped to 10 s..5 min (none: 5 min)', () => {
  const bundle = (hint: number) => ({ keys: [], spiffe_sequence: 1, spiffe_refresh_hint: hint });
  assert.equal(refreshIntervalMs(bundle(60)), 60_000);
  assert.equal(refreshIntervalMs(bundle(1)), 10_000);
  assert.equal(refreshIntervalMs(bundle(900)), 300_000);
  assert.equal(refreshIntervalMs(bundle(0)), 300_000);
  assert.equal(refreshIntervalMs(bundle(Number.NaN)), 300_000);
});

test('remote gateway: a JWT-SVID or client SVID under a rotated CA is accepted long before the periodic refresh; unknown key IDs cause at most one bundle fetch per interval', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const td = cp.ca.trustDomain;
  const caFile = cp.ca.bundlePem();
  const logger = pino({ level: 'silent' });

  // The bundle endpoint the follower uses, counting fetches (the real CA's bundle, a control-plane certificate).
  let fetches = 0;
  const cpCert = await cp.ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const bundleServer = createServer({ cert: cpCert.chainPem, key: cpCert.keyPem }, (_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(cp.ca.jwks()));
  });
  await new Promise<void>((r) => bundleServer.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => bundleServer.close(() => r())));
  const bundleUrl = `https://127.0.0.1:${(bundleServer.address() as AddressInfo).port}`;

  const minIntervalMs = 2000;
  // The periodic refresh is an hour away: anything accepted below came from an on-demand refetch.
  const follower = await SpiffeBundleFollower.start({ controlPlaneUrl: bundleUrl, caPem: caFile, logger, refreshMs: 3600_000, refetchMinIntervalMs: minIntervalMs });
  t.after(() => follower.close());
  let lastFetchAt = Date.now();
  assert.equal(fetches, 1);
  /** Lets the rate-limit window of the last fetch pass (a deadline, not a race: later is always fine). */
  const pastWindow = () => until(() => Date.now() - lastFetchAt > minIntervalMs + 50, minIntervalMs + 1000);

  const gwKey = createWorkloadKey();
  const gwSvid = await cp.ca.issueX509SvidFromCsr(gwKey.csrPem, { spiffeId: `spiffe://${td}/warden/gateway/gw-refetch` });
  const edge = await startEdgeWorkloadTrust({ controlPlaneUrl: cp.url, caPem: caFile, bundle: follower, trustDomain: td, svid: { chainPem: gwSvid.chainPem, keyPem: gwKey.keyPem }, logger, maxStaleMs: 60_000 });
  t.after(() => edge.close());
  const authn = createAuthenticators({ jwtIssuers: [], jwtSvidAudience: AUDIENCE, mtls: true }, edge.trust);
  const listener = await cp.ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const gw = await startTestGateway({ tls: { certPem: listener.chainPem, keyPem: listener.keyPem, caPem: caFile }, requestClientCert: true, authn });
  t.after(() => gw.close(0));

  const jwtCode = async (token: string): Promise<string> => {
    try {
      await authn.bearer.authenticate(token);
      return 'OK';
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  const mtlsCall = (cert: { chainPem: string; keyPem: string }): Promise<{ status: number; code?: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(`${gw.url}/v1/models`, { agent: false, ca: caFile, servername: 'localhost', cert: cert.chainPem, key: cert.keyPem }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { error?: { code: string } }).error?.code }));
      });
      req.on('error', reject);
      req.end();
    });
  const jwtSvid = async () => (await cp.ca.issueJwtSvid({ spiffeId: `spiffe://${td}/ns/ml/sa/caller`, audience: AUDIENCE })).token;
  const x509Svid = async () => {
    const key = createWorkloadKey();
    const issued = await cp.ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: `spiffe://${td}/ns/ml/sa/caller` });
    return { chainPem: issued.chainPem, keyPem: key.keyPem };
  };

  // A client certificate from a foreign CA (made up front: starting a CA takes a while).
  const { chainPem, keyPem } = await (async () => {
    const other = await startControlPlane();
    t.after(() => other.close());
    const key = createWorkloadKey();
    const issued = await other.ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: `spiffe://${other.ca.trustDomain}/x` });
    return { chainPem: issued.chainPem, keyPem: key.keyPem };
  })();

  assert.equal(await jwtCode(await jwtSvid()), 'OK');
  assert.equal(fetches, 1, 'a known key needs no fetch');

  // Rotation 1: a JWT-SVID signed with the new key is accepted after one refetch.
  await pastWindow();
  await cp.ca.rotate();
  assert.equal(await jwtCode(await jwtSvid()), 'OK', 'JWT-SVID under the new key accepted before the periodic refresh');
  assert.equal(fetches, 2);
  lastFetchAt = Date.now();

  // Rotation 2: a client SVID under the newest root (a new connection) is accepted after one refetch.
  await pastWindow();
  await cp.ca.rotate();
  const fresh = await mtlsCall(await x509Svid());
  assert.equal(fresh.status, 200, `client SVID under the new root accepted before the periodic refresh (got ${fresh.status} ${fresh.code})`);
  assert.equal(fetches, 3);
  lastFetchAt = Date.now();

  // Forged key IDs: refused (fail closed), and the control plane sees at most one fetch per interval.
  const attacker = await generateKeyPair('ES256');
  const forged = (i: number) =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: `forged-${i}` }).setSubject(`spiffe://${td}/ns/ml/sa/caller`).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m').sign(attacker.privateKey);
  const flood = async (from: number) => {
    const codes = await Promise.all(Array.from({ length: 30 }, async (_, i) => jwtCode(await forged(from + i))));
    for (let i = 0; i < 10; i++) codes.push(await jwtCode(await forged(from + 100 + i)));
    return codes;
  };
  // The bound is what rate limiting guarantees whatever the machine's speed: one fetch per started
  // interval since the last fetch (exactly 0 and 1 here unless a flood takes longer than an interval).
  const allowed = (since: number) => Math.floor((Date.now() - since) / minIntervalMs);
  const inWindow = await flood(0);
  assert.ok(inWindow.every((c) => c === 'WARDEN_AUTHN_UNKNOWN_KID'), inWindow.join(','));
  assert.ok(fetches - 3 <= allowed(lastFetchAt), `within the interval of the last fetch: no fetch (got ${fetches - 3})`);
  await pastWindow();
  const before = fetches;
  const floodStart = Date.now();
  const nextWindow = await flood(1000);
  assert.ok(nextWindow.every((c) => c === 'WARDEN_AUTHN_UNKNOWN_KID'), nextWindow.join(','));
  assert.ok(fetches - before >= 1, 'an unknown key ID after the interval triggers a fetch');
  assert.ok(fetches - before <= 1 + allowed(floodStart), `40 forged key IDs in one interval: one fetch (got ${fetches - before})`);
  lastFetchAt = Date.now();
  const afterFlood = fetches;

  // The foreign certificate: refused with its code, without another fetch in the same interval.
  const foreign = await mtlsCall({ chainPem, keyPem });
  assert.equal(foreign.status, 401);
  assert.equal(foreign.code, 'WARDEN_IDENTITY_SVID_UNTRUSTED');
  assert.ok(fetches - afterFlood <= allowed(lastFetchAt) + 1, 'refused without a flood of fetches');
});

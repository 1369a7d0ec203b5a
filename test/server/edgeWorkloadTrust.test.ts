// A remote gateway's X.509 trust anchors follow CA rotation: they come from the SPIFFE bundle it
// refetches (with the configured CA file), not from the CA file of its start alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createWorkloadKey, x509BundlePem, type SpiffeBundle } from '../../src/identity/index.js';
import { createAuthenticators } from '../../src/gateway/index.js';
import { startEdgeWorkloadTrust } from '../../src/server/edgeWorkloadTrust.js';
import { SpiffeBundleFollower } from '../../src/server/spiffeBundleFollower.js';
import { startTestGateway } from '../helpers/inProcessGateway.js';
import { startControlPlane } from '../identity/helpers/controlPlane.js';

async function until(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

test('remote gateway: after a CA rotation, client SVIDs under the new root are accepted once the bundle is refetched; a failed refetch keeps the last good anchors', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const td = cp.ca.trustDomain;
  const caFileAtStart = cp.ca.bundlePem();
  const gwKey = createWorkloadKey();
  const gwSvid = await cp.ca.issueX509SvidFromCsr(gwKey.csrPem, { spiffeId: `spiffe://${td}/warden/gateway/gw-rot` });
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) }));
  const edge = await startEdgeWorkloadTrust({ controlPlaneUrl: cp.url, caPem: caFileAtStart, trustDomain: td, svid: { chainPem: gwSvid.chainPem, keyPem: gwKey.keyPem }, logger, maxStaleMs: 60_000, bundleRefreshMs: 100 });
  t.after(() => edge.close());

  const listener = await cp.ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const authn = createAuthenticators({ jwtIssuers: [], jwtSvidAudience: null, mtls: true }, edge.trust);
  const gw = await startTestGateway({ tls: { certPem: listener.chainPem, keyPem: listener.keyPem, caPem: caFileAtStart }, requestClientCert: true, authn });
  t.after(() => gw.close(0));

  /** GET /v1/models with a client SVID on a new connection: the status, and the error code if any. */
  const call = async (cert: { chainPem: string; keyPem: string }): Promise<{ status: number; code?: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(`${gw.url}/v1/models`, { agent: false, ca: caFileAtStart, servername: 'localhost', cert: cert.chainPem, key: cert.keyPem }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { error?: { code: string } }).error?.code }));
      });
      req.on('error', reject);
      req.end();
    });
  const svid = async (name: string) => {
    const key = createWorkloadKey();
    const issued = await cp.ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: `spiffe://${td}/ns/ml/sa/${name}` });
    return { chainPem: issued.chainPem, keyPem: key.keyPem };
  };

  const beforeRotation = await svid('before');
  assert.equal((await call(beforeRotation)).status, 200);

  await cp.ca.rotate();
  const afterRotation = await svid('after');
  let last: { status: number; code?: string } = { status: 0 };
  const accepted = await until(async () => (last = await call(afterRotation)).status === 200, 3000);
  assert.ok(accepted, `an SVID under the new root is accepted after the bundle refresh (last: ${last.status} ${last.code})`);
  assert.equal((await call(beforeRotation)).status, 200, 'SVIDs under the retired root stay valid');
  assert.ok(logs.some((l) => l.includes('X.509 trust anchors updated')));

  // The control plane goes away: refreshes fail, the last good anchors stay.
  const anchors = edge.trust.bundlePem();
  await cp.stopListener();
  assert.ok(await until(() => logs.some((l) => l.includes('SPIFFE bundle refresh failed')), 3000));
  assert.equal(edge.trust.bundlePem(), anchors);
  assert.equal((await call(afterRotation)).status, 200);
  for (const l of logs) assert.ok(!l.includes('PRIVATE KEY') && !l.includes('BEGIN CERTIFICATE'), 'no key or certificate material in the logs');
});

test('x509BundlePem: configured CA first, bundle roots once each; a bundle entry that is not a CA certificate is refused whole', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const configured = cp.ca.bundlePem();
  const bundle = cp.ca.jwks();
  // Same root in the file and the bundle: once.
  assert.equal((x509BundlePem(bundle, configured).match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
  await cp.ca.rotate();
  const rotated = x509BundlePem(cp.ca.jwks(), configured);
  assert.equal((rotated.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
  assert.ok(rotated.startsWith(configured.trim().split('\n')[0]!));
  // No x509-svid entries: the configured CA alone.
  const jwtOnly: SpiffeBundle = { ...bundle, keys: bundle.keys.filter((k) => k.use === 'jwt-svid') };
  assert.equal((x509BundlePem(jwtOnly, configured).match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
  // A leaf (not a CA) or garbage in x5c.
  const leaf = await cp.ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: `spiffe://${cp.ca.trustDomain}/x` });
  const leafDer = leaf.certPem.replace(/-----[^-]+-----|\s/g, '');
  for (const x5c of [[leafDer], ['not base64 DER'], []]) {
    const bad: SpiffeBundle = { ...bundle, keys: [...bundle.keys, { kty: 'EC', use: 'x509-svid', x5c }] };
    assert.throws(() => x509BundlePem(bad, configured), { code: 'WARDEN_UNAVAILABLE' });
  }
});

test('SpiffeBundleFollower: when not required it starts from the configured CA alone, follows the bundle once the control plane answers, and a closed follower changes nothing', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const caFile = cp.ca.bundlePem();
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) }));
  await cp.stopListener();
  await assert.rejects(SpiffeBundleFollower.start({ controlPlaneUrl: cp.url, caPem: caFile, logger, refreshMs: 100 }), 'required by default: no bundle, no start');
  const follower = await SpiffeBundleFollower.start({ controlPlaneUrl: cp.url, caPem: caFile, logger, refreshMs: 100, required: false });
  t.after(() => follower.close());
  assert.equal(follower.x509Pem(), caFile);
  assert.ok(logs.some((l) => l.includes('trusting the configured CA alone')));

  await cp.ca.rotate();
  await cp.restartListener();
  const changes: string[] = [];
  follower.on('x509Changed', (pem) => changes.push(pem));
  assert.ok(await until(() => changes.length === 1, 5000), 'the new root arrives with the first bundle');
  assert.equal((follower.x509Pem().match(/BEGIN CERTIFICATE/g) ?? []).length, 2);

  follower.close();
  await cp.ca.rotate();
  const before = follower.x509Pem();
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(follower.x509Pem(), before, 'a closed follower no longer fetches');
  assert.equal(changes.length, 1);
});

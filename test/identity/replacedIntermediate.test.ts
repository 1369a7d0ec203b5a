import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { Agent, request, type Dispatcher } from 'undici';
import { startControlPlane, tempDir, ADMIN_TOKEN, type TestControlPlane } from './helpers/controlPlane.js';
import { issueMaterial } from './helpers/workloads.js';
import { createWorkloadKey, loadOrCreateAuthority, nodeCertificatesFromPem, normalizeSerial, verifyPeerSvid, type SvidMaterial } from '../../src/identity/index.js';
import { pemCertificateBlocks } from '../../src/identity/x509.js';

const TD = 'warden.local';
const DAY = 86_400_000;
const serialOf = (pem: string): string => normalizeSerial(new X509Certificate(pem).serialNumber);

/**
 * A data dir whose active intermediate was renewed at half-life (the CA's maintenance clock moved
 * 16 days on) after `old` was issued under the first one. Returns `old` and the replaced serial.
 */
async function dataDirWithRenewedIntermediate(t: TestContext): Promise<{ dir: string; old: SvidMaterial; replaced: string }> {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let now = Date.now();
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD, clock: () => now });
  const old = await issueMaterial(ca, 'spiffe://warden.local/svc/old', 3600);
  const replaced = serialOf(ca.intermediatePem());
  now += 16 * DAY;
  await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://warden.local/svc/new' });
  assert.notEqual(serialOf(ca.intermediatePem()), replaced, 'the intermediate was renewed');
  // What the workload API pairs a caller's leaf with (routes/identity.ts peerOf), before any restart.
  const [leaf] = nodeCertificatesFromPem(old.chainPem);
  assert.equal(verifyPeerSvid([leaf!, ...nodeCertificatesFromPem(ca.intermediatesPem())], ca.bundlePem(), ca.revocations, TD).spiffeId, old.spiffeId, 'the replaced intermediate completes the chain of the SVIDs it issued');
  await ca.close();
  return { dir, old, replaced };
}

/** mTLS clients for `svid`: presenting leaf + intermediate (what agents send), and the leaf alone. */
function clientsOf(t: TestContext, cp: TestControlPlane, svid: SvidMaterial): { chain: Agent; leafOnly: Agent } {
  const [leafPem] = pemCertificateBlocks(svid.chainPem);
  const chain = new Agent({ connect: { ca: cp.ca.bundlePem(), cert: svid.chainPem, key: svid.keyPem } });
  const leafOnly = new Agent({ connect: { ca: cp.ca.bundlePem(), cert: leafPem, key: svid.keyPem } });
  t.after(() => Promise.all([chain.close(), leafOnly.close()]));
  return { chain, leafOnly };
}

/** Status and error code of each workload API call (the revocation stream is closed once its head arrived). */
async function workloadApi(cp: TestControlPlane, dispatcher: Dispatcher): Promise<Record<string, string>> {
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<string> => {
    const r = await request(`${cp.url}/api/v1${path}`, {
      method,
      dispatcher,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 10_000,
    });
    if (path.endsWith('/stream') && r.statusCode === 200) {
      r.body.on('error', () => undefined).destroy();
      return '200';
    }
    const json = (await r.body.json()) as { error?: { code: string } };
    return json.error ? `${r.statusCode} ${json.error.code}` : String(r.statusCode);
  };
  return {
    renew: await call('POST', '/identity/renew', { csr: createWorkloadKey().csrPem }),
    jwt: await call('POST', '/identity/jwt', { audience: 'model-api' }),
    revocations: await call('GET', '/identity/revocations'),
    stream: await call('GET', '/identity/revocations/stream'),
  };
}

const allOk = { renew: '200', jwt: '200', revocations: '200', stream: '200' };
const all = (answer: string) => ({ renew: answer, jwt: answer, revocations: answer, stream: answer });

test('SVIDs of an intermediate a renewal replaced keep using the workload API until it is revoked', { timeout: 60_000 }, async (t) => {
  const { dir, old, replaced } = await dataDirWithRenewedIntermediate(t);
  const cp = await startControlPlane({ dataDir: dir });
  t.after(() => cp.close());
  const { chain, leafOnly } = clientsOf(t, cp, old);
  assert.deepEqual(await workloadApi(cp, chain), allOk, 'leaf + replaced intermediate (as agents present it)');
  // Only the certificate the CA kept completes the chain: no TLS chain to fall back on.
  assert.deepEqual(await workloadApi(cp, leafOnly), allOk, 'leaf alone');

  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const adminClient = new Agent({ connect: { ca: cp.ca.bundlePem() } });
  t.after(() => adminClient.close());
  const revoked = await request(`${cp.url}/api/v1/identity/revoke`, { method: 'POST', headers: admin, dispatcher: adminClient, body: JSON.stringify({ serial: replaced, reason: 'keyCompromise' }) });
  assert.equal(revoked.statusCode, 200, await revoked.body.text());
  // New connections: the revoked chain must be refused whichever way it is completed.
  const again = clientsOf(t, cp, old);
  assert.deepEqual(await workloadApi(cp, again.chain), all('403 WARDEN_IDENTITY_REVOKED'));
  assert.deepEqual(await workloadApi(cp, again.leafOnly), all('403 WARDEN_IDENTITY_REVOKED'));
});

test('a revoked SVID stays revoked past its expiry (by the largest accepted clock skew), and an expired SVID gets no new credentials', { timeout: 60_000 }, async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const peer = await issueMaterial(cp.ca, 'spiffe://warden.local/svc/pep', 3600);
  const revokedSvid = await issueMaterial(cp.ca, 'spiffe://warden.local/svc/revoked', 1);
  const expiredSvid = await issueMaterial(cp.ca, 'spiffe://warden.local/svc/expired', 1);
  await cp.ca.revoke({ serial: revokedSvid.serial, reason: 'keyCompromise' });
  // Just past notAfter: within every verifier's clock skew (30 s by default), so both still verify by time.
  const expiredAt = Math.max(revokedSvid.notAfter.getTime(), expiredSvid.notAfter.getTime());
  await new Promise((r) => setTimeout(r, Math.max(0, expiredAt + 1100 - Date.now())));
  await cp.ca.revocations.prune();

  assert.ok(cp.ca.revocations.hasSerial(revokedSvid.serial), 'the revocation outlives the certificate');
  assert.throws(() => verifyPeerSvid(revokedSvid.chainPem, cp.ca.bundlePem(), cp.ca.revocations, TD), { code: 'WARDEN_IDENTITY_REVOKED' }, 'a sidecar or gateway still refuses it');
  const clients = { peer: clientsOf(t, cp, peer).chain, revoked: clientsOf(t, cp, revokedSvid).chain, expired: clientsOf(t, cp, expiredSvid).chain };
  const feed = await request(`${cp.url}/api/v1/identity/revocations`, { dispatcher: clients.peer });
  const entries = ((await feed.body.json()) as { entries: { value: string }[] }).entries;
  assert.ok(entries.some((e) => e.value === revokedSvid.serial), 'PEPs receive it in the snapshot');

  const revokedAnswers = await workloadApi(cp, clients.revoked);
  assert.equal(revokedAnswers.renew, '403 WARDEN_IDENTITY_REVOKED');
  assert.equal(revokedAnswers.jwt, '403 WARDEN_IDENTITY_REVOKED');
  const expiredAnswers = await workloadApi(cp, clients.expired);
  assert.equal(expiredAnswers.renew, '401 WARDEN_IDENTITY_SVID_EXPIRED', 'no renewal past its own notAfter');
  assert.equal(expiredAnswers.jwt, '401 WARDEN_IDENTITY_SVID_EXPIRED');
});

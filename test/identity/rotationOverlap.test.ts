// During a CA rotation's overlap, clients that hold the bundle.pem from before it keep verifying
// Warden's listeners: a remote gateway's listener certificate is issued under the oldest root
// still usable (`root: "oldest"` on /identity/issue), not under the new root at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden, startEdgeGateway, loadServerSecret } from '../../src/server/index.js';
import { loadOrCreateAuthority, createWorkloadKey, nodeCertificatesFromPem } from '../../src/identity/index.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';
import { tempDir } from './helpers/controlPlane.js';

/** Whether `chainPem` (leaf + intermediate) chains to one of `rootsPem`. */
function chainsTo(chainPem: string, rootsPem: string): boolean {
  const [leaf, intermediate] = nodeCertificatesFromPem(chainPem);
  if (!leaf || !intermediate || !leaf.verify(intermediate.publicKey)) return false;
  return nodeCertificatesFromPem(rootsPem).some((root: X509Certificate) => intermediate.checkIssued(root) && intermediate.verify(root.publicKey));
}

test('CA: root "oldest" signs under the oldest activated root whose intermediate outlives the certificate; never a prepared root; "active" (default) under the new one', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'example.org', intermediateTtlDays: 1, maxSvidTtlSeconds: 7 * 86_400 });
  const before = ca.bundlePem();
  const issue = async (o: { root?: 'active' | 'oldest'; ttlSeconds?: number }) => (await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/warden/gateway/gw', ...o })).chainPem;

  await ca.rotate({ prepareOnly: true });
  const newRoot = ca.bundlePem().replace(before, '');
  assert.ok(chainsTo(await issue({ root: 'oldest' }), before), 'prepared: still the active (old) root');
  assert.ok(chainsTo(await issue({}), before));

  await ca.rotate();
  assert.ok(chainsTo(await issue({}), newRoot), 'default: the new active root');
  assert.ok(!chainsTo(await issue({}), before));
  assert.ok(chainsTo(await issue({ root: 'oldest', ttlSeconds: 3600 }), before), 'oldest: the retired root, which pre-rotation bundles hold');
  // The retired intermediate (1 day) does not outlive a 2-day certificate: the active root then.
  assert.ok(chainsTo(await issue({ root: 'oldest', ttlSeconds: 2 * 86_400 }), newRoot));
});

test('warden gateway (remote) started after a CA rotation: clients holding the pre-rotation bundle.pem still verify its listener', async (t) => {
  const dataDir = tempDataDir('warden-overlap-cp-');
  t.after(() => removeDir(dataDir));
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'gateway.port': 0, 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false });
  t.after(() => warden.close());
  const preRotation = readFileSync(warden.ready.caBundle, 'utf8');
  const admin = new Agent({ connect: { ca: preRotation, servername: 'localhost' } });
  t.after(() => admin.close());
  const pep = await request(`${warden.ready.adminUrl}/api/v1/pep/tokens`, { method: 'POST', dispatcher: admin, headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'overlap' }) });
  assert.equal(pep.statusCode, 201);
  const pepToken = ((await pep.body.json()) as { token: string }).token;

  await warden.ca.rotate();
  const gwDir = tempDataDir('warden-overlap-gw-');
  t.after(() => removeDir(gwDir));
  const gwConfig = loadConfig({ dataDir: gwDir, cwd: gwDir, env: {}, overrides: { 'gateway.port': 0 } });
  const edge = await startEdgeGateway({ config: gwConfig, logger: createLogger({ level: 'silent' }), controlPlaneUrl: warden.ready.adminUrl, token: pepToken, caPem: preRotation, name: 'gw-overlap', serverSecret: loadServerSecret(dataDir, {}) });
  t.after(() => edge.close());

  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(`${edge.url}/healthz`, { agent: false, ca: preRotation }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 200, 'the pre-rotation bundle verifies the gateway listener');
});

test('automatic root rotation prepares the new root first and activates it only after the activation delay (longest SVID lifetime + 5 min)', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let now = Date.now();
  // A 3-day root: a third of its life is left after 2 days. Delay: 1 h SVIDs + 5 min.
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'example.org', rootTtlDays: 3, svidTtlSeconds: 600, maxSvidTtlSeconds: 3600, clock: () => now });
  const original = ca.bundlePem();
  const issue = async () => (await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: 'spiffe://example.org/w' })).chainPem;
  const statuses = () => ca.generations().map((g) => g.status).join(',');

  now += 47 * 3600_000;
  await issue();
  assert.equal(statuses(), 'active', 'nothing before a third of the root life is left');

  now += 2 * 3600_000;
  assert.ok(chainsTo(await issue(), original), 'still issued under the old root');
  assert.equal(statuses(), 'active,prepared', 'the new root is published first');
  const bothRoots = ca.bundlePem();
  assert.equal(nodeCertificatesFromPem(bothRoots).length, 2);
  const sequence = ca.sequence;

  now += 3600_000;
  assert.ok(chainsTo(await issue(), original), 'within the delay (1 h 5 min): the old root still issues');
  assert.equal(statuses(), 'active,prepared');
  assert.equal(ca.sequence, sequence);

  now += 6 * 60_000;
  const after = await issue();
  assert.equal(statuses(), 'retired,active', 'activated once the delay has passed');
  assert.ok(!chainsTo(after, original) && chainsTo(after, bothRoots), 'issued under the new root, which every bundle since the preparation holds');
  assert.equal(ca.bundlePem(), bothRoots, 'the retired root stays in the bundle');
});

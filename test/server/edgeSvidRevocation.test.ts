// A remote gateway whose own SVID is revoked (here: the retired intermediate that issued it, after
// an emergency CA rotation) renews it at once, instead of presenting it until its half-life while
// the control plane refuses its revocation stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden, startEdgeGateway, loadServerSecret } from '../../src/server/index.js';
import { normalizeSerial } from '../../src/identity/index.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';

/** The serials of the listener certificate and of the intermediate that issued it, as the gateway presents them. */
async function listenerChain(url: string, caPem: string): Promise<{ leaf: string; issuer: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname === 'localhost' ? '127.0.0.1' : hostname, port: Number(port), servername: 'localhost', ca: caPem }, () => {
      const cert = socket.getPeerCertificate(true) as DetailedPeerCertificate;
      socket.end();
      resolve({ leaf: normalizeSerial(cert.serialNumber), issuer: normalizeSerial(cert.issuerCertificate.serialNumber) });
    });
    socket.on('error', reject);
  });
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return cond();
}

const GATEWAY = 'gw-revoked';

/** A control plane (its CA rotated once, so the first generation is retired) and a remote gateway with workload authentication. */
async function startPair(t: { after(fn: () => unknown): void }) {
  const fns: (() => unknown)[] = [];
  // Cleanups last-registered first: the gateway closes before the control plane.
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  const defer = (fn: () => unknown): void => void fns.push(fn);
  const dataDir = tempDataDir('warden-edge-revoked-cp-');
  defer(() => removeDir(dataDir));
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'gateway.port': 0, 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false });
  defer(() => warden.close());
  const caPem = readFileSync(warden.ready.caBundle, 'utf8');
  const admin = new Agent({ connect: { ca: caPem, servername: 'localhost' } });
  defer(() => admin.close());
  const pep = await request(`${warden.ready.adminUrl}/api/v1/pep/tokens`, { method: 'POST', dispatcher: admin, headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'edge-revoked' }) });
  assert.equal(pep.statusCode, 201);
  const pepToken = ((await pep.body.json()) as { token: string }).token;

  // The emergency rotation comes first: the active intermediate cannot be revoked. The gateway's
  // SVID is then issued under the oldest usable root, the retired generation.
  await warden.ca.rotate();
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) }));
  const gwDir = tempDataDir('warden-edge-revoked-gw-');
  defer(() => removeDir(gwDir));
  // Workload authentication: the gateway follows the revocation list over a stream its SVID authenticates.
  const gwConfig = loadConfig({ dataDir: gwDir, cwd: gwDir, env: {}, overrides: { 'gateway.port': 0, 'gateway.authn.mtls': true } });
  const edge = await startEdgeGateway({ config: gwConfig, logger, controlPlaneUrl: warden.ready.adminUrl, token: pepToken, caPem, name: GATEWAY, serverSecret: loadServerSecret(dataDir, {}) });
  defer(() => edge.close());
  assert.ok(await until(async () => logs.some((l) => l.includes('revocation stream connected')), 10_000), 'the revocation stream is up');
  const spiffeId = `spiffe://${gwConfig.server.trustDomain}/warden/gateway/${GATEWAY}`;
  // Verified with both roots: a renewed certificate may come from the new one.
  const chain = () => listenerChain(edge.url, warden.ca.bundlePem());
  return { warden, edge, logs, spiffeId, chain };
}

test("warden gateway (remote): revoking the intermediate that issued the gateway's own SVID makes it renew at once, under a non-revoked intermediate", async (t) => {
  const { warden, logs, spiffeId, chain } = await startPair(t);
  const before = await chain();
  await warden.ca.revoke({ serial: before.issuer, reason: 'keyCompromise' });
  assert.ok(warden.ca.revocations.hasSerial(before.issuer));

  let after = before;
  assert.ok(await until(async () => (after = await chain()).leaf !== before.leaf, 15_000), 'the listener certificate was renewed without waiting for its half-life');
  assert.notEqual(after.issuer, before.issuer, 'under another intermediate');
  assert.equal(warden.ca.revocations.revokesSvid(spiffeId, after.leaf, [after.issuer]), false, 'which is not revoked');
  assert.ok(logs.some((l) => l.includes('own SVID was revoked') && l.includes('"level":40')), 'a warning says why');
  // The fresh SVID authenticates the revocation stream again (the control plane had ended it).
  assert.ok(await until(async () => logs.filter((l) => l.includes('revocation stream connected')).length >= 2, 15_000), 'the revocation stream reconnected');
  assert.equal(logs.filter((l) => l.includes('listener certificate renewed')).length, 1, 'renewed once, not in a loop');
});

test("warden gateway (remote): revoking the gateway's own SVID serial renews it at once; a revoked SPIFFE ID is reported, not renewed in a loop", async (t) => {
  const { warden, logs, spiffeId, chain } = await startPair(t);
  const before = await chain();
  await warden.ca.revoke({ serial: before.leaf, reason: 'keyCompromise' });
  let after = before;
  assert.ok(await until(async () => (after = await chain()).leaf !== before.leaf, 15_000), 'renewed without waiting for its half-life');
  assert.equal(warden.ca.revocations.revokesSvid(spiffeId, after.leaf, [after.issuer]), false);
  assert.ok(await until(async () => logs.filter((l) => l.includes('revocation stream connected')).length >= 2, 15_000), 'the revocation stream reconnected');

  // The identity itself: the control plane issues it nothing more, so there is nothing to renew.
  await warden.ca.revoke({ spiffeId, reason: 'decommissioned' });
  assert.ok(await until(async () => logs.some((l) => l.includes('SPIFFE ID is revoked')), 10_000), 'an error says why');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(logs.filter((l) => l.includes('listener certificate renewed')).length, 1, 'no renewal attempted for a revoked SPIFFE ID');
  assert.equal(logs.filter((l) => l.includes('renewal failed')).length, 0);
  assert.equal((await chain()).leaf, after.leaf);
});

import { test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import assert from 'node:assert/strict';
import { statSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Server as HttpServer } from 'node:http';
import { request } from 'undici';
import { startControlPlane, tempDir, ADMIN_TOKEN } from './helpers/controlPlane.js';
import { WorkloadAgent, serveWorkloadApi, verifyPeerSvid, verifyJwtSvid } from '../../src/identity/index.js';
import { Agent } from 'undici';

async function admin<T>(url: string, bundle: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const dispatcher = new Agent({ connect: { ca: bundle } });
  const res = await request(url + '/api/v1' + path, {
    method: body === undefined ? 'GET' : 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.body.json()) as T;
  await dispatcher.close();
  return { status: res.statusCode, json };
}

test('agent attests with a join token, writes files, serves the socket API and renews at half-life', async (t) => {
  const cp = await startControlPlane({ identity: { svidTtlSeconds: 60 } });
  t.after(() => cp.close());
  const bundle = cp.ca.bundlePem();
  const { json: tok } = await admin<{ token: string }>(cp.url, bundle, '/identity/tokens', { spiffeId: 'spiffe://warden.local/ns/ml/worker/0' });
  assert.match(tok.token, /^wjt_/);
  assert.ok(!JSON.stringify(cp.audit.records).includes(tok.token), 'join token never audited');

  const out = tempDir();
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem: bundle, joinToken: tok.token, outDir: out, random: () => 0.5, followRevocations: false });
  t.after(() => agent.stop());
  const svid = await agent.start();
  assert.equal(svid.spiffeId, 'spiffe://warden.local/ns/ml/worker/0');
  assert.equal(statSync(join(out, 'svid.key')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(out, 'bundle.pem'), 'utf8'), bundle);
  const verified = verifyPeerSvid(readFileSync(join(out, 'svid.pem'), 'utf8'), bundle, cp.ca.revocations, 'warden.local');
  assert.equal(verified.spiffeId, svid.spiffeId);

  // Reused join token is refused.
  const again = new WorkloadAgent({ serverUrl: cp.url, bundlePem: bundle, joinToken: tok.token, followRevocations: false });
  await assert.rejects(again.start(), { code: 'WARDEN_IDENTITY_JOIN_TOKEN_USED' });
  await again.stop();

  // Socket API.
  const sock = join(out, 'agent.sock');
  const api = await serveWorkloadApi(agent, sock);
  t.after(() => api.close());
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  const res = await request('http://localhost/v1/svid', { dispatcher: new Agent({ connect: { socketPath: sock } }) });
  const body = (await res.body.json()) as { spiffeId: string; keyPem: string };
  assert.equal(body.spiffeId, svid.spiffeId);
  assert.match(body.keyPem, /BEGIN PRIVATE KEY/);
  const jwtRes = await request('http://localhost/v1/jwt?audience=model-server', { dispatcher: new Agent({ connect: { socketPath: sock } }) });
  const jwt = (await jwtRes.body.json()) as { token: string };
  const vj = await verifyJwtSvid(jwt.token, cp.ca.jwks(), { audience: 'model-server', trustDomain: 'warden.local' });
  assert.equal(vj.spiffeId, svid.spiffeId);

  // Renews: manual rotate gives a new serial and key, files replaced.
  // (Scheduled renewal at half-life is tested below.)
  const first = svid.serial;
  const rotated = await agent.rotate();
  assert.notEqual(rotated.serial, first);
  assert.notEqual(readFileSync(join(out, 'svid.key'), 'utf8'), svid.keyPem);
});

test('agent keeps its SVID through a control-plane outage and renews after it returns; restarts resume from files', async (t) => {
  const cp = await startControlPlane({ identity: { svidTtlSeconds: 60 } });
  t.after(() => cp.close());
  const bundle = cp.ca.bundlePem();
  const { json: tok } = await admin<{ token: string }>(cp.url, bundle, '/identity/tokens', { spiffeId: 'spiffe://warden.local/svc/a' });
  const out = tempDir();
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem: bundle, joinToken: tok.token, outDir: out, retry: { minMs: 50, maxMs: 200 }, followRevocations: false });
  await agent.start();
  await cp.stopListener();
  await assert.rejects(agent.rotate(), { code: 'WARDEN_UNAVAILABLE' });
  assert.ok(agent.current(), 'still serving the last SVID');
  await cp.restartListener();
  const after = await agent.rotate();
  assert.ok(after.notAfter.getTime() > Date.now());
  await agent.stop();

  // A restarted agent (no token) resumes from the stored SVID by renewing over mTLS.
  const restarted = new WorkloadAgent({ serverUrl: cp.url, bundlePem: bundle, outDir: out, followRevocations: false });
  const resumed = await restarted.start();
  assert.equal(resumed.spiffeId, 'spiffe://warden.local/svc/a');
  assert.notEqual(resumed.serial, after.serial);
  await restarted.stop();
  assert.ok(existsSync(join(out, 'svid.pem')));
});

test('agent drops its SVID and files when its identity is revoked', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const bundle = cp.ca.bundlePem();
  const { json: tok } = await admin<{ token: string }>(cp.url, bundle, '/identity/tokens', { spiffeId: 'spiffe://warden.local/svc/bad' });
  const out = tempDir();
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem: bundle, joinToken: tok.token, outDir: out });
  t.after(() => agent.stop());
  await agent.start();
  const revoked = new Promise((r) => agent.once('revoked', r));
  const { status } = await admin(cp.url, bundle, '/identity/revoke', { spiffeId: 'spiffe://warden.local/svc/bad', reason: 'compromised' });
  assert.equal(status, 200);
  await revoked;
  assert.equal(agent.current(), null);
  assert.ok(!existsSync(join(out, 'svid.key')));
  await assert.rejects(agent.rotate(), (e: { code: string }) => e.code === 'WARDEN_IDENTITY_AGENT_NOT_READY');
  const adminRec = cp.audit.records.find((r) => r.action === 'identity.revoke');
  assert.equal(adminRec?.resource, 'spiffe://warden.local/svc/bad');
});

test('agent drops its SVID when the intermediate that issued it is revoked (admin API, CA with an issued-SVID store); the active intermediate cannot be', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const bundle = cp.ca.bundlePem();
  const { json: tok } = await admin<{ token: string }>(cp.url, bundle, '/identity/tokens', { spiffeId: 'spiffe://warden.local/svc/under-old' });
  const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem: bundle, joinToken: tok.token });
  t.after(() => agent.stop());
  await agent.start();
  // The serial to revoke, as `warden identity ca show` lists it.
  const { json: shown } = await admin<{ generations: { status: string; intermediateSerial: string }[] }>(cp.url, bundle, '/identity/ca');
  const oldIntermediate = shown.generations.find((g) => g.status === 'active')!.intermediateSerial;
  assert.equal(oldIntermediate, new X509Certificate(cp.ca.intermediatePem()).serialNumber.toLowerCase().replace(/^0+/, ''));
  const refused = await admin<{ error: { code: string } }>(cp.url, bundle, '/identity/revoke', { serial: oldIntermediate, reason: 'keyCompromise' });
  assert.deepEqual([refused.status, refused.json.error.code], [409, 'WARDEN_CONFLICT']);
  assert.ok(agent.current(), 'nothing was revoked');
  await cp.ca.rotate();
  const revoked = new Promise((r) => agent.once('revoked', r));
  const { status } = await admin(cp.url, bundle, '/identity/revoke', { serial: oldIntermediate, reason: 'keyCompromise' });
  assert.equal(status, 200);
  assert.equal(await Promise.race([revoked.then(() => 'revoked'), new Promise((r) => setTimeout(() => r('still held after 5 s'), 5000).unref())]), 'revoked');
  assert.equal(agent.current(), null);
});

test('agent renews on its own at half-life minus jitter, with a new key each time', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const bundle = cp.ca.bundlePem();
  const { json: tok } = await admin<{ token: string }>(cp.url, bundle, '/identity/tokens', { spiffeId: 'spiffe://warden.local/svc/short' });
  // 4 s SVIDs: the renewal is due at half of what is left (2 s), minus up to 10 % jitter (random() = 1 → 1.6 s).
  const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem: bundle, joinToken: tok.token, ttlSeconds: 4, followRevocations: false, random: () => 1 });
  t.after(() => agent.stop());
  const first = await agent.start();
  const issuedAt = Date.now();
  const next = await new Promise<{ serial: string; keyPem: string }>((resolve) => agent.once('rotated', resolve));
  const after = Date.now() - issuedAt;
  assert.notEqual(next.serial, first.serial);
  assert.notEqual(next.keyPem, first.keyPem);
  assert.ok(after >= 1200 && after < 4000, `renewed at ~40 % of the lifetime, before expiry (${after} ms)`);
  assert.ok(agent.current());
});

test('the Workload API socket is 0600 from the moment it exists, whatever the umask (no window before the chmod)', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'agent.sock');
  // What another local user could connect to: the socket's mode when it starts accepting, before serveWorkloadApi's own chmod.
  let modeWhenListening = -1;
  const listen = HttpServer.prototype.listen;
  HttpServer.prototype.listen = function (this: HttpServer, ...args: unknown[]) {
    this.once('listening', () => (modeWhenListening = statSync(sock).mode & 0o777));
    return (listen as (...a: unknown[]) => HttpServer).apply(this, args);
  } as typeof listen;
  const previous = process.umask(0);
  try {
    const api = await serveWorkloadApi({ current: () => null } as unknown as WorkloadAgent, sock);
    t.after(() => api.close());
  } finally {
    process.umask(previous);
    HttpServer.prototype.listen = listen;
  }
  assert.equal(modeWhenListening, 0o600);
  assert.equal(process.umask(), previous, 'the process umask is restored');
});

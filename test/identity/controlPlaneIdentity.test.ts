// Clients of the control plane pin its SPIFFE ID, not only its host name: every workload and
// gateway holds a certificate from the same CA, and a gateway may hold one for localhost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { controlPlaneTls, createWorkloadKey, loadOrCreateAuthority, type CertificateAuthority } from '../../src/identity/index.js';
import { RemoteAuditWriter, SnapshotHolder, SnapshotSubscriber } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';
import { AdminClient } from '../../src/cli/adminClient.js';

let dir: string;
let ca: CertificateAuthority;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-cp-pin-'));
  ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
});
after(async () => {
  await ca.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An HTTPS server on 127.0.0.1 with a certificate from Warden's CA; records the Authorization header of every request it gets. */
async function serverWith(spiffeId: string | undefined, foreign?: { certPem: string; keyPem: string }): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const cert = foreign ? { chainPem: foreign.certPem, keyPem: foreign.keyPem } : await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], ...(spiffeId ? { spiffeId } : {}) });
  const seen: string[] = [];
  const server: Server = createServer({ cert: cert.chainPem, key: cert.keyPem }, (req, res) => {
    seen.push(String(req.headers.authorization ?? ''));
    req.resume();
    res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test('the control plane (spiffe://…/warden/server) is accepted; a peer with a valid certificate for the same host but another SPIFFE ID is refused before any request is sent', async () => {
  const genuine = await serverWith(undefined);
  const impostor = await serverWith('spiffe://warden.local/warden/gateway/edge-1');
  const agent = new Agent({ connect: controlPlaneTls(ca.bundlePem()) });
  try {
    const ok = await request(`${genuine.url}/api/v1/status`, { dispatcher: agent, headers: { authorization: 'Bearer wdp_secret' } });
    await ok.body.dump();
    assert.equal(ok.statusCode, 503);
    assert.deepEqual(genuine.seen, ['Bearer wdp_secret']);

    await assert.rejects(request(`${impostor.url}/api/v1/status`, { dispatcher: agent, headers: { authorization: 'Bearer wdp_secret' } }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_WARDEN_NOT_CONTROL_PLANE');
      assert.match(err.message, /spiffe:\/\/warden\.local\/warden\/gateway\/edge-1/);
      return true;
    });
    assert.deepEqual(impostor.seen, [], 'the impostor never received the token');
  } finally {
    await agent.close();
    await genuine.close();
    await impostor.close();
  }
});

test("an edge gateway's snapshot stream and audit shipping send their PEP token only to the control plane", async () => {
  const genuine = await serverWith(undefined);
  const impostor = await serverWith('spiffe://warden.local/warden/gateway/edge-1');
  const logger = createLogger({ level: 'silent' });
  const clients = (url: string) => ({
    subscriber: new SnapshotSubscriber({ url, token: 'wdp_pep_token', caPem: ca.bundlePem(), name: 'edge-1', holder: new SnapshotHolder(), logger }),
    audit: new RemoteAuditWriter({ url, token: 'wdp_pep_token', caPem: ca.bundlePem(), pep: 'edge-1', logger, flushIntervalMs: 10, closeTimeoutMs: 200 }),
  });
  const toGenuine = clients(genuine.url);
  const toImpostor = clients(impostor.url);
  try {
    for (const c of [toGenuine, toImpostor]) {
      c.subscriber.start();
      void c.audit.append({ ts: new Date().toISOString(), kind: 'event', action: 'test.pin' });
    }
    const deadline = Date.now() + 5000;
    while (genuine.seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(genuine.seen.length >= 2, 'both clients reached the control plane');
    assert.ok(genuine.seen.every((h) => h === 'Bearer wdp_pep_token'));
    assert.deepEqual(impostor.seen, [], 'no request, so no token, reached the impostor');
  } finally {
    for (const c of [toGenuine, toImpostor]) {
      await c.subscriber.close();
      await c.audit.close();
    }
    await genuine.close();
    await impostor.close();
  }
});

test('the CA never issues the control plane SPIFFE ID to a workload (X.509 or JWT)', async () => {
  const key = createWorkloadKey();
  await assert.rejects(ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://warden.local/warden/server' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'WARDEN_INPUT_INVALID');
    assert.match(err.message, /reserved for the control plane/);
    return true;
  });
  await assert.rejects(ca.issueJwtSvid({ spiffeId: 'spiffe://warden.local/warden/server', audience: 'x' }), { code: 'WARDEN_INPUT_INVALID' });
  const other = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: 'spiffe://warden.local/warden/server-room' });
  assert.equal(other.spiffeId, 'spiffe://warden.local/warden/server-room');
});

test("the CLI's admin client sends the admin token only to the control plane when it uses Warden's bundle; with another CA (a proxy in front) it checks the host name only", async () => {
  const genuine = await serverWith(undefined);
  const impostor = await serverWith('spiffe://warden.local/warden/gateway/edge-1');
  const key = join(dir, 'proxy-key.pem');
  const cert = join(dir, 'proxy-cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=proxy', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  assert.equal(made.status, 0, 'openssl is needed for the proxy certificate');
  const proxy = await serverWith(undefined, { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') });
  const clients: AdminClient[] = [];
  const client = (url: string, caPem: string) => {
    const c = new AdminClient(url, 'wdt_adm_secret', caPem);
    clients.push(c);
    return c;
  };
  try {
    await assert.rejects(client(genuine.url, ca.bundlePem()).call('GET', '/api/v1/status'), { status: 503 });
    assert.deepEqual(genuine.seen, ['Bearer wdt_adm_secret']);
    await assert.rejects(client(impostor.url, ca.bundlePem()).call('GET', '/api/v1/status'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'WARDEN_UNAVAILABLE');
      assert.match(err.message, /ERR_WARDEN_NOT_CONTROL_PLANE/);
      return true;
    });
    assert.deepEqual(impostor.seen, [], 'the admin token never reached the impostor');
    await assert.rejects(client(proxy.url, readFileSync(cert, 'utf8')).call('GET', '/api/v1/status'), { status: 503 });
    assert.deepEqual(proxy.seen, ['Bearer wdt_adm_secret'], 'a non-SPIFFE CA is not pinned');
  } finally {
    for (const c of clients) await c.close();
    await genuine.close();
    await impostor.close();
    await proxy.close();
  }
});

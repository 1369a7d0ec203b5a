// `warden up` after a CA rotation: Warden sidecar upstreams soon present SVIDs under the new root,
// and the gateway's upstream mTLS must trust it without a restart; the client-CA names the TLS
// listeners advertise (clients such as Go's pick their certificate by them) must name it too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden, startEdgeGateway, loadServerSecret } from '../../src/server/index.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startSidecar, AllowListAuthorizer, type Sidecar } from '../../src/gateway/sidecar/index.js';
import { RevocationList, loadOrCreateAuthority, type CertificateAuthority, type SvidMaterial } from '../../src/identity/index.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload } from '../identity/helpers/workloads.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';
import { freePort } from '../helpers/net.js';

const MODEL = 'spiffe://warden.local/svc/echo-model';

/** Cleanups run last-registered first (node:test runs t.after hooks in registration order). */
function cleanupInReverse(t: { after(fn: () => unknown): void }): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => void fns.push(fn);
}

/**
 * A Warden sidecar for MODEL in front of an echo workload. `renewUnder` gives it an SVID from the
 * CA's active generation and restarts it on the same port, so the gateway's next connection is new.
 */
async function startModelSidecar(first: SvidMaterial, defer: (fn: () => unknown) => void): Promise<{ url: string; serial(): string; renewUnder(ca: CertificateAuthority): Promise<void> }> {
  const echo = await startEchoWorkload();
  defer(() => new Promise((r) => echo.server.close(r)));
  const identity = new StaticSvidSource(first);
  const options = {
    trustDomain: 'warden.local',
    identity,
    revocations: new RevocationList(),
    authorizer: new AllowListAuthorizer([{ from: 'spiffe://warden.local/warden/gateway/*', to: MODEL, paths: ['/v1/*'], methods: ['POST'] }]),
    upstreamUrl: echo.url,
  };
  let sidecar: Sidecar = await startSidecar(options);
  defer(() => sidecar.close());
  const port = Number(new URL(sidecar.url).port);
  return {
    url: sidecar.url,
    serial: () => identity.current().serial,
    async renewUnder(ca) {
      identity.set(await issueMaterial(ca, MODEL));
      await sidecar.close();
      sidecar = await startSidecar({ ...options, port });
    },
  };
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return cond();
}

/** The CA names a TLS listener advertises in its CertificateRequest, as `openssl s_client` prints them. */
async function advertisedClientCaNames(url: string): Promise<string> {
  const { host } = new URL(url);
  const { stdout } = await promisify(execFile)('sh', ['-c', `openssl s_client -connect ${host} -servername localhost </dev/null 2>&1 || true`], { timeout: 10_000 });
  const m = /Acceptable client certificate CA names\n([\s\S]*?)\n(?:Requested|Client Certificate Types|Peer signing|---)/.exec(stdout);
  return m?.[1] ?? '';
}

test('warden up: after a CA rotation, sidecar upstreams under the new root are reached and the listeners advertise the new root, without a restart', async (t) => {
  const defer = cleanupInReverse(t);
  const dataDir = tempDataDir('warden-bundle-follow-');
  defer(() => removeDir(dataDir));
  // The CA exists before `warden up` so the sidecar (its upstream) can hold an SVID from it.
  const preCa = await loadOrCreateAuthority({ dataDir, trustDomain: 'warden.local' });
  const firstSvid = await issueMaterial(preCa, MODEL);
  await preCa.close();
  const sidecar = await startModelSidecar(firstSvid, defer);

  const config = loadConfig({
    dataDir,
    cwd: dataDir,
    env: {},
    overrides: {
      'gateway.port': 0,
      'server.port': 0,
      'gateway.authn.mtls': true,
      'gateway.upstreams': [{ name: 'sidecar', url: sidecar.url, models: ['echo'], timeoutMs: 5000, retries: 0, mtls: { spiffeId: MODEL } }],
    },
  });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: true });
  defer(() => warden.close());
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8'), servername: 'localhost' } });
  defer(() => agent.close());
  const gatewayUrl = warden.ready.gatewayUrl!;
  const embed = async () => {
    const r = await request(`${gatewayUrl}/v1/embeddings`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${warden.ready.demoKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'echo', input: 'hi' }) });
    return { status: r.statusCode, body: await r.body.text() };
  };
  const first = await embed();
  assert.equal(first.status, 200, first.body);
  assert.match(first.body, /warden\/gateway/, 'the sidecar saw the gateway SVID');

  const rootsBefore = await advertisedClientCaNames(gatewayUrl);
  assert.equal(rootsBefore.split('\n').length, 1, `one root advertised before the rotation: ${rootsBefore}`);

  await warden.ca.rotate();
  let names = '';
  assert.ok(await until(async () => (names = await advertisedClientCaNames(gatewayUrl)).split('\n').length === 2, 10_000), `the gateway advertises both roots after the rotation: ${names}`);
  names = await advertisedClientCaNames(warden.ready.adminUrl);
  assert.equal(names.split('\n').length, 2, `the control plane advertises both roots after the rotation: ${names}`);

  await sidecar.renewUnder(warden.ca);
  const afterRotation = await embed();
  assert.equal(afterRotation.status, 200, `the gateway trusts the sidecar's SVID under the new root: ${afterRotation.body}`);

  // The gateway checks its upstream against the CA's revocation list: the kept-alive connection closes at once.
  await warden.ca.revoke({ serial: sidecar.serial(), reason: 'keyCompromise' });
  const afterRevocation = await embed();
  assert.equal(afterRevocation.status, 502, `the revoked sidecar is not reached: ${afterRevocation.body}`);
});


test('warden gateway (remote): after a CA rotation, sidecar upstreams under the new root are reached, with or without workload authentication, and the listener advertises the new root; the control plane shuts down with gateways connected', async (t) => {
  const defer = cleanupInReverse(t);
  const dataDir = tempDataDir('warden-bundle-follow-cp-');
  defer(() => removeDir(dataDir));
  // A fixed admin port: the control plane restarts on it below.
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'gateway.port': 0, 'server.port': await freePort() } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: true });
  // The embedder stands in for `warden up`'s printing: the restart below keeps the demo key.
  await warden.credentialsShown();
  defer(() => warden.close());
  const caPem = readFileSync(warden.ready.caBundle, 'utf8');
  const admin = new Agent({ connect: { ca: caPem, servername: 'localhost' } });
  defer(() => admin.close());
  const pep = await request(`${warden.ready.adminUrl}/api/v1/pep/tokens`, { method: 'POST', dispatcher: admin, headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'rotation' }) });
  const pepToken = ((await pep.body.json()) as { token: string }).token;
  assert.equal(pep.statusCode, 201);

  const sidecar = await startModelSidecar(await issueMaterial(warden.ca, MODEL), defer);

  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) }));
  const startEdge = async (name: string, mtlsClients: boolean) => {
    const gwDir = tempDataDir(`warden-bundle-follow-${name}-`);
    defer(() => removeDir(gwDir));
    const gwConfig = loadConfig({
      dataDir: gwDir,
      cwd: gwDir,
      env: {},
      overrides: {
        'gateway.port': 0,
        'gateway.authn.mtls': mtlsClients,
        'gateway.upstreams': [{ name: 'sidecar', url: sidecar.url, models: ['echo'], timeoutMs: 5000, retries: 0, mtls: { spiffeId: MODEL } }],
      },
    });
    const edge = await startEdgeGateway({ config: gwConfig, logger, controlPlaneUrl: warden.ready.adminUrl, token: pepToken, caPem, name, serverSecret: loadServerSecret(dataDir, {}), bundleRefreshMs: 200 });
    defer(() => edge.close());
    return edge;
  };
  const plain = await startEdge('gw-plain', false);
  const workload = await startEdge('gw-workload', true);
  const embed = async (url: string) => {
    const r = await request(`${url}/v1/embeddings`, { method: 'POST', dispatcher: admin, headers: { authorization: `Bearer ${warden.ready.demoKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'echo', input: 'hi' }) });
    return { status: r.statusCode, body: await r.body.text() };
  };
  for (const edge of [plain, workload]) {
    const r = await embed(edge.url);
    assert.equal(r.status, 200, `${edge.name}: ${r.body}`);
  }

  await warden.ca.rotate();
  let names = '';
  assert.ok(await until(async () => (names = await advertisedClientCaNames(workload.url)).split('\n').length === 2, 10_000), `the workload-auth gateway advertises both roots after the rotation: ${names}`);
  assert.ok(await until(async () => logs.filter((l) => l.includes('X.509 trust anchors updated')).length >= 2, 10_000), 'both gateways refetched the bundle');

  await sidecar.renewUnder(warden.ca);
  for (const edge of [plain, workload]) {
    const r = await embed(edge.url);
    assert.equal(r.status, 200, `${edge.name} trusts the sidecar's SVID under the new root: ${r.body}`);
  }

  // Both gateways follow the revocation list (the plain one for its sidecar upstream alone): revoking
  // the sidecar's SVID closes their kept-alive connections to it; a new SVID is trusted again.
  const revoked = await request(`${warden.ready.adminUrl}/api/v1/identity/revoke`, { method: 'POST', dispatcher: admin, headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ serial: sidecar.serial(), reason: 'keyCompromise' }) });
  assert.equal(revoked.statusCode, 200, await revoked.body.text());
  for (const edge of [plain, workload]) assert.ok(await until(async () => (await embed(edge.url)).status === 502, 10_000), `${edge.name} stops reaching the revoked sidecar`);
  await sidecar.renewUnder(warden.ca);
  for (const edge of [plain, workload]) assert.equal((await embed(edge.url)).status, 200, `${edge.name} reaches the sidecar with its new SVID`);

  // Shutdown of the control plane ends the PEPs' snapshot and revocation streams instead of waiting for them.
  const closing = Date.now();
  await warden.close();
  assert.ok(Date.now() - closing < 15_000, `warden closed in ${Date.now() - closing} ms with remote gateways connected`);

  // It comes back with a listener certificate under the new root, which the gateways' --ca file
  // (the old root alone) does not verify: they reach it through the bundle they followed.
  const installed = (): number => logs.filter((l) => l.includes('snapshot installed')).length;
  const installedBefore = installed();
  const restarted = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false });
  defer(() => restarted.close());
  const oldRootOnly = new Agent({ connect: { ca: caPem, servername: 'localhost' } });
  defer(() => oldRootOnly.close());
  await assert.rejects(request(`${restarted.ready.adminUrl}/healthz`, { dispatcher: oldRootOnly }), 'the restarted control plane is not verified by the old root alone');
  assert.ok(await until(async () => installed() >= installedBefore + 2, 15_000), 'both gateways took a snapshot from the restarted control plane');
  const auditedBefore = restarted.audit.size;
  assert.equal((await embed(plain.url)).status, 200);
  assert.ok(await until(async () => restarted.audit.size > auditedBefore, 15_000), 'the gateway delivered its audit record to the restarted control plane');
});

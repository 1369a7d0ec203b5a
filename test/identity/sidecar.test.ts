import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { startControlPlane, tempDir, ADMIN_TOKEN } from './helpers/controlPlane.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload, mtlsClient, call } from './helpers/workloads.js';
import { mintLeaf, loadIntermediate } from './helpers/fixtures.js';
import { startSidecar, AllowListAuthorizer } from '../../src/gateway/sidecar/index.js';
import { IdentityClient, RevocationFeed, RevocationList, loadOrCreateAuthority } from '../../src/identity/index.js';

const MODEL = 'spiffe://warden.local/env/prod/svc/model';
const API = 'spiffe://warden.local/env/prod/svc/api';
const BATCH = 'spiffe://warden.local/env/prod/svc/batch';
const DEV_API = 'spiffe://warden.local/env/dev/svc/api';

/** The MODEL workload's sidecar in prod: prod workloads may GET and POST /v1/*. */
async function startModelSidecar(t: TestContext, identity: StaticSvidSource, revocations: RevocationList, upstreamUrl: string): Promise<Awaited<ReturnType<typeof startSidecar>>> {
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity,
    revocations,
    authorizer: new AllowListAuthorizer([{ from: 'spiffe://warden.local/env/prod/*', to: MODEL, paths: ['/v1/*'], methods: ['POST', 'GET'] }]),
    upstreamUrl,
    environment: 'prod',
  });
  t.after(() => sidecar.close());
  return sidecar;
}

test('AllowListAuthorizer: default deny, path/method rules, env and tenant isolation', () => {
  const authz = new AllowListAuthorizer([
    { from: 'spiffe://warden.local/*', to: MODEL, paths: ['/v1/*'], methods: ['POST'] },
    { from: 'spiffe://warden.local/env/prod/svc/ops', to: '*', paths: ['/metrics'], methods: ['GET'], crossBoundary: true },
  ]);
  const ask = (from: string, to: string, method: string, path: string, environment = '') =>
    authz.authorize({ principal: { type: 'Service', id: from }, action: { type: 'Action', id: 'connect' }, resource: { type: 'Service', id: to }, context: { path, method, environment } }).decision;
  assert.equal(ask(API, MODEL, 'POST', '/v1/chat'), 'allow');
  assert.equal(ask(API, MODEL, 'GET', '/v1/chat'), 'deny');
  assert.equal(ask(API, MODEL, 'POST', '/admin'), 'deny');
  assert.equal(ask(DEV_API, MODEL, 'POST', '/v1/chat'), 'deny', 'dev may not call prod even when a rule matches');
  assert.equal(ask('spiffe://warden.local/svc/x', 'spiffe://warden.local/svc/y', 'POST', '/v1/x', 'prod'), 'deny', 'no env on the caller, callee in prod');
  assert.equal(ask('spiffe://warden.local/env/prod/svc/ops', 'spiffe://warden.local/env/dev/svc/db', 'GET', '/metrics'), 'allow', 'explicit cross-boundary rule');
  assert.equal(ask('spiffe://warden.local/env/prod/tenant/a/svc/x', 'spiffe://warden.local/env/prod/tenant/b/svc/y', 'POST', '/v1/x'), 'deny', 'tenants isolated');
  assert.equal(ask('spiffe://warden.local/env/prod/tenant/a/svc/x', 'spiffe://warden.local/env/prod/tenant/a/svc/y', 'POST', '/v1/x'), 'deny', 'rule is only for MODEL');
  assert.equal(authz.authorize({ principal: { type: 'Service', id: API }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'Service', id: MODEL }, context: { path: '/v1/x', method: 'POST' } }).decision, 'deny');
  assert.equal(new AllowListAuthorizer([]).authorize({ principal: { type: 'Service', id: API }, action: { type: 'Action', id: 'connect' }, resource: { type: 'Service', id: MODEL }, context: {} }).decision, 'deny');
});

test('sidecar: mTLS in, segmentation, forwarding, revocation closes open keep-alive connections, outbound with pinned peer', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const ca = cp.ca;
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());

  const modelId = new StaticSvidSource(await issueMaterial(ca, MODEL));
  // The sidecar's revocation list is fed from the control plane stream, authenticated by its SVID.
  const feedClient = new IdentityClient(cp.url, { bundlePem: ca.bundlePem(), chainPem: modelId.svid.chainPem, keyPem: modelId.svid.keyPem });
  const revocations = new RevocationList();
  const feed = new RevocationFeed(feedClient, revocations);
  const connected = new Promise((r) => feed.once('connected', r));
  feed.start();
  t.after(() => {
    feed.stop();
    return feedClient.close();
  });
  await connected;

  const sidecar = await startModelSidecar(t, modelId, revocations, echo.url);

  const api = await issueMaterial(ca, API);
  const apiAgent = mtlsClient(api);
  t.after(() => apiAgent.close());
  const ok = await call(apiAgent, sidecar.url + '/v1/chat', 'POST', '{"x":1}');
  assert.equal(ok.status, 200);
  // Reconnecting clients offer TLS session resumption; each new connection must still verify.
  for (let i = 0; i < 3; i++) {
    const r = await apiAgent.request({ origin: sidecar.url, path: '/v1/chat', method: 'POST', headers: { connection: 'close' }, body: '{}' });
    await r.body.dump();
    assert.equal(r.statusCode, 200, `connection ${i + 2}`);
  }
  assert.equal(ok.json.peer, API, 'workload learns the verified caller; a spoofed header is replaced');
  assert.equal(ok.json.body, '{"x":1}');
  const denied = await call(apiAgent, sidecar.url + '/admin/reset', 'POST');
  assert.equal(denied.status, 403);
  assert.equal((denied.json.error as { code: string }).code, 'WARDEN_IDENTITY_SEGMENTATION_DENIED');
  assert.equal((await call(apiAgent, sidecar.url + '/v1/chat', 'DELETE')).status, 403);
  // Paths a normalising workload would route elsewhere than the rule that allowed them.
  for (const path of ['/v1/../admin/reset', '/v1/%2e%2e/admin/reset', '/v1/%2E%2e/admin/reset', '/v1/..;/admin/reset', '/v1/.%2fadmin', '/v1\\..\\admin/reset', '/v1/./chat']) {
    const r = await apiAgent.request({ origin: sidecar.url, path, method: 'POST', body: '{}' });
    const json = (await r.body.json()) as { error?: { code: string } };
    assert.equal(r.statusCode, 400, path);
    assert.equal(json.error?.code, 'WARDEN_INPUT_INVALID', path);
  }

  const dev = mtlsClient(await issueMaterial(ca, DEV_API));
  t.after(() => dev.close());
  assert.equal((await call(dev, sidecar.url + '/v1/chat', 'POST')).status, 403, 'dev → prod denied');

  // No client certificate, a self-signed one, and a foreign CA's: the handshake fails.
  const anon = new Agent({ connect: { ca: ca.bundlePem(), servername: 'localhost', checkServerIdentity: () => undefined } });
  t.after(() => anon.close());
  await assert.rejects(request(sidecar.url + '/v1/chat', { dispatcher: anon }).then((r) => r.body.text()));
  const otherDir = tempDir();
  t.after(() => rmSync(otherDir, { recursive: true, force: true }));
  const foreignCa = await loadOrCreateAuthority({ dataDir: otherDir, trustDomain: 'warden.local' });
  const foreign = await issueMaterial(foreignCa, API);
  const foreignAgent = mtlsClient({ ...foreign, bundlePem: ca.bundlePem() });
  t.after(() => foreignAgent.close());
  await assert.rejects(request(sidecar.url + '/v1/chat', { dispatcher: foreignAgent }).then((r) => r.body.text()));
  // A leaf from the right CA that breaks the SPIFFE rules (two URI SANs) is cut after the handshake.
  const twoSans = await mintLeaf(await loadIntermediate(cp.dataDir), { uris: [API, BATCH] });
  const twoAgent = mtlsClient({ ...twoSans, bundlePem: ca.bundlePem() });
  t.after(() => twoAgent.close());
  await assert.rejects(request(sidecar.url + '/v1/chat', { dispatcher: twoAgent }).then((r) => r.body.text()));
  const rejectedBefore = sidecar.stats.rejectedHandshakes;
  assert.ok(rejectedBefore >= 2);

  // Revocation: the API's keep-alive connection is open; revoke through the admin API.
  const keepAlive = await call(apiAgent, sidecar.url + '/v1/ping', 'GET');
  assert.equal(keepAlive.status, 200);
  const admin = new Agent({ connect: { ca: ca.bundlePem() } });
  t.after(() => admin.close());
  const started = performance.now();
  const rev = await request(cp.url + '/api/v1/identity/revoke', {
    method: 'POST',
    dispatcher: admin,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ spiffeId: API, reason: 'test' }),
  });
  assert.equal(rev.statusCode, 200);
  await rev.body.text();
  while (!revocations.hasSpiffeId(API) && performance.now() - started < 2000) await new Promise((r) => setTimeout(r, 5));
  const propagationMs = performance.now() - started;
  assert.ok(revocations.hasSpiffeId(API), 'revocation reached the sidecar');
  assert.ok(propagationMs < 2000, `propagated in ${propagationMs} ms`);
  assert.ok(sidecar.stats.revokedClosed >= 1, 'the open connection was closed');
  await assert.rejects(call(apiAgent, sidecar.url + '/v1/chat', 'POST'), 'a new connection is refused too');
  // Others are unaffected.
  const batch = mtlsClient(await issueMaterial(ca, BATCH));
  t.after(() => batch.close());
  assert.equal((await call(batch, sidecar.url + '/v1/chat', 'POST')).status, 200);
  assert.ok(cp.ctx.events.listenerCount('snapshot:changed') >= 0);

  // Outbound: the batch workload calls the model through its own sidecar (plain HTTP on loopback).
  const batchId = new StaticSvidSource(await issueMaterial(ca, BATCH));
  const out = await startSidecar({
    trustDomain: 'warden.local',
    identity: batchId,
    revocations,
    authorizer: new AllowListAuthorizer([]),
    upstreamUrl: echo.url,
    outboundPort: 0,
    outbound: [
      { name: 'model', url: sidecar.url.replace('127.0.0.1', 'localhost'), spiffeId: MODEL },
      { name: 'wrong', url: sidecar.url, spiffeId: 'spiffe://warden.local/env/prod/svc/other' },
    ],
  });
  t.after(() => out.close());
  const viaOut = await request(out.outboundUrl + '/model/v1/generate', { method: 'POST', body: 'hi' });
  assert.equal(viaOut.statusCode, 200);
  const echoed = (await viaOut.body.json()) as { peer: string; path: string };
  assert.equal(echoed.peer, BATCH, 'outbound call presented the workload SVID');
  assert.equal(echoed.path, '/v1/generate');
  const mismatch = await request(out.outboundUrl + '/wrong/v1/generate', { method: 'POST', body: 'hi' });
  assert.equal(mismatch.statusCode, 502);
  assert.equal(((await mismatch.body.json()) as { error: { code: string } }).error.code, 'WARDEN_IDENTITY_PEER_MISMATCH');
  const unknown = await request(out.outboundUrl + '/nope/x');
  assert.equal(unknown.statusCode, 404);
  await unknown.body.text();

  // SVID rotation of the model sidecar: new connections see the new certificate.
  const next = await issueMaterial(ca, MODEL);
  modelId.set(next);
  const fresh = mtlsClient(await issueMaterial(ca, 'spiffe://warden.local/env/prod/svc/fresh'));
  t.after(() => fresh.close());
  assert.equal((await call(fresh, sidecar.url + '/v1/chat', 'POST')).status, 200);
});

test('startSidecarFromConfig: SVID files from the agent (reloaded on rotation), revocation stream, allow-list from warden.yaml', async (t) => {
  const { loadConfig } = await import('../../src/config/index.js');
  const { startSidecarFromConfig } = await import('../../src/gateway/sidecar/index.js');
  const { WorkloadAgent } = await import('../../src/identity/index.js');
  const { connect } = await import('node:tls');
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());
  const { token } = await (await import('../../src/identity/index.js')).getIdentityService(cp.ctx).then((s) => s.tokens.create({ spiffeId: MODEL, ttlSeconds: 60 }));
  const out = tempDir();
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem: cp.ca.bundlePem(), joinToken: token, outDir: out, followRevocations: false });
  await agent.start();
  t.after(() => agent.stop());
  const config = loadConfig({
    dataDir: cp.dataDir,
    env: {},
    cwd: cp.dataDir,
    overrides: {
      'identity.sidecar.svidDir': out,
      'identity.sidecar.port': 0,
      'identity.sidecar.upstreamUrl': echo.url,
      'identity.sidecar.allow': [{ from: API, to: MODEL, paths: ['/v1/*'], methods: ['POST'] }],
    },
  });
  const events: string[] = [];
  const sidecar = await startSidecarFromConfig({ config, serverUrl: cp.url, onFeedEvent: (e) => events.push(e) });
  t.after(() => sidecar.close());
  const api = await issueMaterial(cp.ca, API);
  const client = mtlsClient(api);
  t.after(() => client.close());
  assert.equal((await call(client, sidecar.url + '/v1/chat', 'POST', '{}')).status, 200);
  assert.equal((await call(client, sidecar.url + '/v2/chat', 'POST', '{}')).status, 403);
  const serverSerial = () =>
    new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: Number(new URL(sidecar.url).port), ca: api.bundlePem, cert: api.chainPem, key: api.keyPem, checkServerIdentity: () => undefined }, () => {
        resolve(s.getPeerX509Certificate()!.serialNumber.toLowerCase().replace(/^0+/, ''));
        s.destroy();
      });
      s.on('error', reject);
    });
  assert.equal(await serverSerial(), agent.current()!.serial);
  const rotated = await agent.rotate();
  const until = Date.now() + 5000;
  while ((await serverSerial()) !== rotated.serial && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await serverSerial(), rotated.serial, 'the sidecar picked up the rotated SVID files');
  await cp.ca.revoke({ spiffeId: API });
  const deadline = Date.now() + 2000;
  while (!sidecar.revocations.hasSpiffeId(API) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(sidecar.revocations.hasSpiffeId(API));
  assert.ok(events.includes('connected'));
  await assert.rejects(call(client, sidecar.url + '/v1/chat', 'POST', '{}'));
});

test('sidecar fails closed (503) when its revocation stream has been silent too long, and recovers when it is back', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());
  const me = new StaticSvidSource(await issueMaterial(cp.ca, MODEL));
  const client = new IdentityClient(cp.url, { bundlePem: cp.ca.bundlePem(), chainPem: me.svid.chainPem, keyPem: me.svid.keyPem });
  const revocations = new RevocationList();
  const feed = new RevocationFeed(client, revocations, { minMs: 50, maxMs: 200 });
  const connected = new Promise((r) => feed.once('connected', r));
  feed.start();
  t.after(() => {
    feed.stop();
    return client.close();
  });
  await connected;
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity: me,
    revocations,
    authorizer: new AllowListAuthorizer([{ from: API, to: MODEL, paths: ['*'], methods: ['*'] }]),
    upstreamUrl: echo.url,
    revocationsFresh: () => feed.isFresh(500),
  });
  t.after(() => sidecar.close());
  const api = mtlsClient(await issueMaterial(cp.ca, API));
  t.after(() => api.close());
  assert.equal((await call(api, sidecar.url + '/x')).status, 200);
  await cp.stopListener();
  const until = Date.now() + 5000;
  let last = 200;
  while (Date.now() < until && last !== 503) {
    last = (await call(api, sidecar.url + '/x')).status;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(last, 503, 'stale revocation list → fail closed');
  await cp.restartListener();
  const back = Date.now() + 10_000;
  while (Date.now() < back && !feed.connected) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await call(api, sidecar.url + '/x')).status, 200, 'recovers once the stream is back');
});

test('sidecar: a chunked body on a GET stays one request upstream (no request smuggling past segmentation)', async (t) => {
  const dir = tempDir();
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(async () => {
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity: new StaticSvidSource(await issueMaterial(ca, MODEL)),
    revocations: new RevocationList(),
    // API may only GET /v1/*; nobody may POST /admin/*.
    authorizer: new AllowListAuthorizer([{ from: API, to: MODEL, paths: ['/v1/*'], methods: ['GET'] }]),
    upstreamUrl: echo.url,
    environment: 'prod',
  });
  t.after(() => sidecar.close());
  const api = await issueMaterial(ca, API);
  const inner = 'POST /admin/reset HTTP/1.1\r\nHost: x\r\nX-Warden-Peer-Spiffe-Id: spiffe://warden.local/env/prod/svc/ops\r\nContent-Length: 0\r\n\r\n';
  const u = new URL(sidecar.url);
  const send = (raw: string) =>
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: u.hostname, port: Number(u.port), cert: api.chainPem, key: api.keyPem, ca: api.bundlePem, checkServerIdentity: () => undefined }, () => s.write(raw));
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
  const smuggling = [
    ['chunked', `GET /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`],
    // Connection may list any header as hop-by-hop, content-length too: the framing must survive it.
    ['content-length named in Connection', `GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: ${inner.length}\r\nConnection: close, content-length\r\n\r\n${inner}`],
  ];
  for (const [how, raw] of smuggling) {
    echo.seen.length = 0;
    const answer = await send(raw!);
    assert.match(answer, /^HTTP\/1\.1 200/, how);
    // The echo workload answers each request with what it saw: one request, carrying the inner text as its body.
    assert.equal(echo.seen.length, 1, `${how}: the workload saw ${echo.seen.length} requests`);
    const echoed = JSON.parse(answer.slice(answer.indexOf('{'), answer.lastIndexOf('}') + 1)) as { method?: string; path?: string; body?: string; peer?: string };
    assert.equal(echoed.peer, API, how);
    assert.equal(echoed.body, inner, how);
  }
});

test('sidecar: revoking the intermediate that issued a caller\'s SVID closes its open connection, and a new one is refused', async (t) => {
  // A CA of its own: its intermediate gets revoked.
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(() => ca.close());
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());
  const sidecar = await startModelSidecar(t, new StaticSvidSource(await issueMaterial(ca, MODEL)), ca.revocations, echo.url);
  const api = await issueMaterial(ca, API);
  const apiAgent = mtlsClient(api);
  t.after(() => apiAgent.close());
  assert.equal((await call(apiAgent, sidecar.url + '/v1/ping', 'GET')).status, 200);
  const issuer = new X509Certificate(ca.intermediatePem()).serialNumber;
  await ca.rotate(); // the active intermediate cannot be revoked
  const rejectedBefore = sidecar.stats.rejectedHandshakes;
  await ca.revoke({ serial: issuer, reason: 'test' });
  assert.equal(sidecar.stats.revokedClosed, 1, 'the open connection was closed');
  const fresh = mtlsClient(api);
  t.after(() => fresh.close());
  await assert.rejects(call(fresh, sidecar.url + '/v1/ping', 'GET'));
  assert.equal(sidecar.stats.rejectedHandshakes, rejectedBefore + 1, 'a new connection is refused at verification');
});

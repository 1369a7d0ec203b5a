import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { request } from 'undici';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { tempDir } from '../identity/helpers/controlPlane.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload, mtlsClient, call } from '../identity/helpers/workloads.js';
import { startSidecar, AllowListAuthorizer, type SidecarOptions } from '../../src/gateway/sidecar/index.js';
import { RevocationList, loadOrCreateAuthority, type SvidMaterial } from '../../src/identity/index.js';

// What the sidecar does to a request between the caller and the workload: the caller leaving
// reaches the workload, only the sidecar names the caller, and the body is passed on as sent.

const MODEL = 'spiffe://warden.local/env/prod/svc/model';
const API = 'spiffe://warden.local/env/prod/svc/api';

async function fixture(t: TestContext) {
  const dir = tempDir();
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(async () => {
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (upstreamUrl: string, more: Partial<SidecarOptions> = {}) => {
    const sidecar = await startSidecar({
      trustDomain: 'warden.local',
      identity: new StaticSvidSource(await issueMaterial(ca, MODEL)),
      revocations: new RevocationList(),
      authorizer: new AllowListAuthorizer([{ from: API, to: MODEL, paths: ['/v1/*'], methods: ['GET', 'POST'] }]),
      upstreamUrl,
      ...more,
    });
    t.after(() => sidecar.close());
    return sidecar;
  };
  return { ca, start, api: await issueMaterial(ca, API) };
}

/**
 * A workload that never finishes: it streams to every request until the connection is gone, and
 * reports each request's end (`gone`) so a test can wait for the caller's departure to reach it.
 */
async function startEndlessWorkload(t: TestContext) {
  const requests: { gone: Promise<void> }[] = [];
  const arrived: (() => void)[] = [];
  const server = createServer((req, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('token '), 20);
    requests.push({ gone: once(res, 'close').then(() => clearInterval(timer)) });
    arrived.shift()?.();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const nextRequest = () => new Promise<void>((r) => arrived.push(r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, nextRequest };
}

function tlsTo(url: string, svid: SvidMaterial): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: u.hostname, port: Number(u.port), cert: svid.chainPem, key: svid.keyPem, ca: svid.bundlePem, checkServerIdentity: () => undefined }, () => resolve(s));
    s.on('error', reject);
  });
}

function plainTo(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: u.hostname, port: Number(u.port) }, () => resolve(s));
    s.on('error', reject);
  });
}

/** API's sidecar with one outbound route, `model`, to `url` pinned to MODEL (its own inbound side unused). */
async function outboundTo(t: TestContext, api: SvidMaterial, url: string) {
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity: new StaticSvidSource(api),
    revocations: new RevocationList(),
    authorizer: new AllowListAuthorizer([]),
    upstreamUrl: 'http://127.0.0.1:1',
    outboundPort: 0,
    outbound: [{ name: 'model', url, spiffeId: MODEL }],
  });
  t.after(() => sidecar.close());
  return sidecar;
}

const within = (p: Promise<unknown>, ms: number, what: string) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref())]);

/** Half an upload, then the caller leaves; then a streamed answer the caller leaves after its first bytes. */
async function callersLeave(workload: Awaited<ReturnType<typeof startEndlessWorkload>>, connect: () => Promise<Socket>, path: string) {
  const upload = await connect();
  let arrived = workload.nextRequest();
  upload.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789`);
  await within(arrived, 5000, 'the upload reached the workload');
  upload.destroy();
  await within(workload.requests.at(-1)!.gone, 3000, 'the abandoned upload was closed at the workload');

  const stream = await connect();
  arrived = workload.nextRequest();
  stream.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  await within(arrived, 5000, 'the request reached the workload');
  await within(once(stream, 'data'), 5000, 'the first streamed bytes');
  stream.destroy();
  await within(workload.requests.at(-1)!.gone, 3000, 'the abandoned stream was closed at the workload');
}

test('sidecar: a caller that leaves mid-upload or mid-stream takes its request to the workload with it (inbound and outbound)', async (t) => {
  const { start, api } = await fixture(t);
  const workload = await startEndlessWorkload(t);
  const model = await start(workload.url);
  await callersLeave(workload, () => tlsTo(model.url, api), '/v1/generate');

  // The API workload calls MODEL through its own sidecar's outbound listener.
  const apiSidecar = await outboundTo(t, api, model.url);
  await callersLeave(workload, () => plainTo(apiSidecar.outboundUrl!), '/model/v1/generate');
});

test('sidecar: a workload silent for upstreamIdleTimeoutMs gets its request cut (502), not held', async (t) => {
  const { start, api } = await fixture(t);
  const silent = createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const model = await start(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, { upstreamIdleTimeoutMs: 200 });
  const client = mtlsClient(api);
  t.after(() => client.close());
  const r = await call(client, model.url + '/v1/generate', 'POST', '{}');
  assert.equal(r.status, 502);
  assert.equal((r.json.error as { code: string }).code, 'WARDEN_IDENTITY_UPSTREAM_FAILED');
});

/** Headers in which a caller might claim an identity or origin; none may reach the workload. */
const CLAIMS = {
  x_warden_peer_spiffe_id: 'spiffe://warden.local/env/prod/svc/ops', // WSGI reads it as X-Warden-Peer-Spiffe-Id
  'x-forwarded-client-cert': 'By=spiffe://warden.local/x;URI=spiffe://warden.local/env/prod/svc/ops',
  'x-spiffe-id': 'spiffe://warden.local/env/prod/svc/ops',
  forwarded: 'for=10.0.0.1',
  'x-forwarded-for': '10.0.0.1',
  'x-real-ip': '10.0.0.1',
  'x-trace': 'kept',
};

test('sidecar: identity claims in client headers (underscore spellings, XFCC, x-spiffe-id, forwarding headers) never reach the workload, inbound or outbound', async (t) => {
  const { ca, start, api } = await fixture(t);
  const echo = await startEchoWorkload();
  t.after(() => new Promise((r) => echo.server.close(r)));
  const model = await start(echo.url);
  const client = mtlsClient(api);
  t.after(() => client.close());
  const r = await request(model.url + '/v1/chat', { dispatcher: client, headers: CLAIMS });
  assert.equal(r.statusCode, 200);
  assert.equal(((await r.body.json()) as { peer: string }).peer, API);
  const seen = echo.seen.at(-1)!;
  for (const name of Object.keys(CLAIMS).filter((h) => h !== 'x-trace')) assert.equal(seen[name], undefined, `${name} reached the workload`);
  assert.equal(seen['x-trace'], 'kept', 'other headers pass');

  // Outbound, to a remote that is not a Warden sidecar and might trust them.
  const remoteSvid = await issueMaterial(ca, MODEL);
  const remoteSeen: Record<string, unknown>[] = [];
  const remote = createHttpsServer({ key: remoteSvid.keyPem, cert: remoteSvid.chainPem }, (req, res) => {
    remoteSeen.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
  t.after(() => {
    remote.closeAllConnections();
    remote.close();
  });
  const apiSidecar = await outboundTo(t, api, `https://127.0.0.1:${(remote.address() as AddressInfo).port}`);
  const out = await request(apiSidecar.outboundUrl + '/model/v1/chat', { headers: CLAIMS });
  assert.equal(out.statusCode, 200, await out.body.text());
  for (const name of Object.keys(CLAIMS).filter((h) => h !== 'x-trace')) assert.equal(remoteSeen[0]![name], undefined, `${name} left on an outbound call`);
  assert.equal(remoteSeen[0]!['x-trace'], 'kept');
});

test('sidecar: a request transfer coding other than chunked (gzip, chunked) is refused with 501, not forwarded re-labelled', async (t) => {
  const { start, api } = await fixture(t);
  const echo = await startEchoWorkload();
  t.after(() => new Promise((r) => echo.server.close(r)));
  const model = await start(echo.url);
  const raw = (path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
  const answer = async (socket: Socket, text: string) => {
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString()));
    socket.write(text);
    await within(once(socket, 'close'), 5000, 'the connection closed');
    return out;
  };
  const inbound = await answer(await tlsTo(model.url, api), raw('/v1/chat'));
  assert.match(inbound, /^HTTP\/1\.1 501 /);
  assert.match(inbound, /WARDEN_IDENTITY_TRANSFER_CODING_UNSUPPORTED/);
  assert.equal(echo.seen.length, 0, 'nothing reached the workload');

  const apiSidecar = await outboundTo(t, api, model.url);
  const outbound = await answer(await plainTo(apiSidecar.outboundUrl!), raw('/model/v1/chat'));
  assert.match(outbound, /^HTTP\/1\.1 501 /);
  assert.equal(echo.seen.length, 0, 'nothing left');
});

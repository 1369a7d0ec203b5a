// A revocation reaches what is already open (docs/identity.md: "a PEP closes the revoked peer's
// open connections at once"): mTLS connections of the revoked SVID, idle or streaming, over
// HTTP/2 and HTTP/1.1, and in-flight JWT-SVID requests; the upstream request is aborted and the
// audit record says why. A new PEP snapshot that blocks a principal does the same to the open
// requests of that principal whatever its credential (an OIDC JWT here: no key to revoke).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { loadOrCreateAuthority, createWorkloadKey, type CertificateAuthority } from '../../src/identity/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { createAuthenticators, type RunningGateway } from '../../src/gateway/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';
import type { PepSnapshot } from '../../src/gateway/index.js';
import { TestIssuer, makeKey } from './authn/helpers.js';

const TD = 'warden.local';
let dir: string;
let ca: CertificateAuthority;
let upstream: Server;
/** Upstream answers still streaming, and whether each ended early (the gateway aborted it). */
const upstreamClosed: { early: boolean }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-revoked-peers-'));
  ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: TD });
  // /v1/chat/completions with stream: one SSE chunk every 100 ms for 4 s; otherwise a JSON answer at once.
  upstream = createServer((req, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      if (!body.includes('"stream":true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] }));
        return;
      }
      const state = { early: false };
      upstreamClosed.push(state);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const t = setInterval(() => {
        n++;
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: `tok${n} ` }, finish_reason: null }] })}\n\n`);
        if (n === 40) {
          clearInterval(t);
          res.end('data: [DONE]\n\n');
        }
      }, 100);
      res.on('close', () => {
        clearInterval(t);
        state.early = !res.writableFinished;
      });
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
});

after(async () => {
  upstream.close();
  await ca.close();
  rmSync(dir, { recursive: true, force: true });
});

async function gateway(o: { mtls: boolean; jwtSvidAudience?: string }, records: AuditRecord[], authority = ca): Promise<RunningGateway> {
  const ca = authority;
  const listener = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const authn = createAuthenticators({ jwtIssuers: [], jwtSvidAudience: o.jwtSvidAudience ?? null, mtls: o.mtls }, { trustDomain: TD, bundle: () => ca.jwks(), bundlePem: () => ca.bundlePem(), revocations: ca.revocations });
  return startTestGateway({
    tls: { certPem: listener.chainPem, keyPem: listener.keyPem, caPem: ca.bundlePem() },
    requestClientCert: o.mtls,
    authn,
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    upstreams: [upstreamConfig.parse({ name: 'u', url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, models: ['m'] })],
  });
}

const streamBody = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
const plainBody = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });

/**
 * Streams a completion on `session`; calls `onFirst` at the first chunk; resolves when the stream
 * closes. `complete`: the answer ended with [DONE] and END_STREAM (not reset).
 */
function streamOn(session: ClientHttp2Session, headers: Record<string, string>, onFirst: () => void): Promise<{ status: number; afterFirst: number; complete: boolean; cutAfterMs: number }> {
  return new Promise((resolve) => {
    const s = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', ...headers });
    s.setEncoding('utf8');
    let status = 0;
    let firstAt = 0;
    let afterFirst = 0;
    let text = '';
    s.on('response', (h) => (status = Number(h[':status'])));
    s.on('data', (d: string) => {
      text += d;
      if (!firstAt) {
        firstAt = Date.now();
        onFirst();
      } else afterFirst++;
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve({ status, afterFirst, complete: text.includes('[DONE]') && s.rstCode === 0, cutAfterMs: Date.now() - firstAt }));
    s.end(streamBody);
  });
}

async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

test('HTTP/2 + X.509-SVID: revoking the SPIFFE ID closes the session with a response streaming; the upstream request is aborted and audited as revoked', async () => {
  const id = `spiffe://${TD}/ns/a/sa/streamer`;
  const records: AuditRecord[] = [];
  const gw = await gateway({ mtls: true }, records);
  const key = createWorkloadKey();
  const svid = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: id, ttlSeconds: 600 });
  const session = h2connect(gw.url, { ca: ca.bundlePem(), servername: 'localhost', cert: svid.chainPem, key: key.keyPem });
  session.on('error', () => undefined);
  const sessionClosed = new Promise<void>((r) => session.once('close', r));
  try {
    const upstreamBefore = upstreamClosed.length;
    const r = await streamOn(session, {}, () => void ca.revoke({ spiffeId: id, reason: 'test' }));
    assert.equal(r.status, 200);
    assert.equal(r.complete, false, 'the stream is cut off, not completed');
    assert.ok(r.afterFirst <= 2, `${r.afterFirst} chunks arrived after the revocation`);
    assert.ok(r.cutAfterMs < 1000, `cut off after ${r.cutAfterMs} ms`);
    await sessionClosed;
    assert.ok(await until(() => upstreamClosed.length > upstreamBefore && upstreamClosed.at(-1)!.early), 'the upstream request was aborted');
    assert.ok(await until(() => records.some((x) => x.code === 'WARDEN_IDENTITY_REVOKED')), 'the audit record says the request was cut off by a revocation');
    const rec = records.find((x) => x.code === 'WARDEN_IDENTITY_REVOKED')!;
    assert.equal((rec.details as { principalId: string }).principalId, id);
  } finally {
    session.destroy();
    await gw.close(0);
  }
});

test('HTTP/1.1 + X.509-SVID: revoking the serial closes an idle keep-alive connection at once', async () => {
  const records: AuditRecord[] = [];
  const gw = await gateway({ mtls: true }, records);
  const key = createWorkloadKey();
  const svid = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: `spiffe://${TD}/ns/a/sa/idle`, ttlSeconds: 600 });
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: ca.bundlePem(), servername: 'localhost', cert: svid.chainPem, key: key.keyPem });
  try {
    let socket: Socket | null = null;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${gw.url}/v1/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('socket', (s) => (socket = s));
      req.on('error', reject);
      req.end(plainBody);
    });
    assert.equal(status, 200);
    assert.ok(socket);
    const s = socket as Socket;
    assert.equal(s.destroyed, false, 'the connection is kept alive');
    const closed = new Promise<number>((r) => s.once('close', () => r(Date.now())));
    const revokedAt = Date.now();
    await ca.revoke({ serial: svid.serial, reason: 'test' });
    const closedAt = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), 2000))]);
    assert.ok(closedAt > 0 && closedAt - revokedAt < 1000, 'the gateway closed the revoked peer\'s idle connection');
  } finally {
    agent.destroy();
    await gw.close(0);
  }
});

test('HTTP/1.1 + X.509-SVID: revoking the intermediate that issued it closes a connection verified before, and the next one is refused', async () => {
  // A CA of its own: its intermediate is revoked here, which would revoke every SVID the other tests issue.
  const ownDir = mkdtempSync(join(tmpdir(), 'warden-revoked-issuer-'));
  const own = await loadOrCreateAuthority({ dataDir: ownDir, trustDomain: TD });
  const records: AuditRecord[] = [];
  const gw = await gateway({ mtls: true }, records, own);
  const key = createWorkloadKey();
  const svid = await own.issueX509SvidFromCsr(key.csrPem, { spiffeId: `spiffe://${TD}/ns/a/sa/under-intermediate`, ttlSeconds: 600 });
  const intermediateSerial = new X509Certificate(own.intermediatePem()).serialNumber;
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: own.bundlePem(), servername: 'localhost', cert: svid.chainPem, key: key.keyPem });
  const post = (onSocket: (s: Socket) => void = () => undefined): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${gw.url}/v1/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('socket', onSocket);
      req.on('error', reject);
      req.end(plainBody);
    });
  try {
    let socket: Socket | null = null;
    assert.equal(await post((s) => (socket = s)), 200);
    const s = socket as unknown as Socket;
    assert.equal(s.destroyed, false, 'the connection is kept alive');
    const closed = new Promise<boolean>((r) => s.once('close', () => r(true)));
    // The procedure for a compromised intermediate: a new generation first (the active one cannot be revoked), then revoke it.
    await own.rotate();
    await own.revoke({ serial: intermediateSerial, reason: 'test' });
    assert.equal(await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]), true, "the gateway closed the connection of an SVID whose issuer was revoked");
    // A new connection presents the same chain: refused at verification.
    assert.equal(await post(), 403);
  } finally {
    agent.destroy();
    await gw.close(0);
    await own.close();
    rmSync(ownDir, { recursive: true, force: true });
  }
});

test('HTTP/2 + JWT-SVID: revoking the SPIFFE ID aborts its streaming request; the session and other credentials on it carry on', async () => {
  const id = `spiffe://${TD}/ns/a/sa/jwt-streamer`;
  const records: AuditRecord[] = [];
  const gw = await gateway({ mtls: false, jwtSvidAudience: 'gw' }, records);
  const jwt = await ca.issueJwtSvid({ spiffeId: id, audience: 'gw' });
  const session = h2connect(gw.url, { ca: ca.bundlePem(), servername: 'localhost' });
  session.on('error', () => undefined);
  try {
    const upstreamBefore = upstreamClosed.length;
    const r = await streamOn(session, { authorization: `Bearer ${jwt.token}` }, () => void ca.revoke({ spiffeId: id, reason: 'test' }));
    assert.equal(r.status, 200);
    assert.equal(r.complete, false, 'the stream is cut off, not completed');
    assert.ok(r.afterFirst <= 2, `${r.afterFirst} chunks arrived after the revocation`);
    assert.ok(await until(() => upstreamClosed.length > upstreamBefore && upstreamClosed.at(-1)!.early), 'the upstream request was aborted');
    assert.ok(await until(() => records.some((x) => x.code === 'WARDEN_IDENTITY_REVOKED')));
    // Only that request: the session stays open for an API-key request.
    assert.equal(session.destroyed, false);
    const next = await new Promise<number>((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` });
      let st = 0;
      s.on('response', (h) => (st = Number(h[':status'])));
      s.resume();
      s.on('end', () => resolve(st));
      s.on('error', reject);
      s.end(plainBody);
    });
    assert.equal(next, 200);
  } finally {
    session.destroy();
    await gw.close(0);
  }
});

test('HTTP/2 + JWT-SVID minted with an X.509-SVID: revoking that SVID\'s serial aborts the streaming request and refuses the token afterwards', async () => {
  const id = `spiffe://${TD}/ns/a/sa/jwt-minter`;
  const records: AuditRecord[] = [];
  const gw = await gateway({ mtls: false, jwtSvidAudience: 'gw' }, records);
  const svid = await ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: id, ttlSeconds: 600 });
  const jwt = await ca.issueJwtSvid({ spiffeId: id, audience: 'gw', svidSerial: svid.serial });
  const session = h2connect(gw.url, { ca: ca.bundlePem(), servername: 'localhost' });
  session.on('error', () => undefined);
  try {
    const upstreamBefore = upstreamClosed.length;
    const r = await streamOn(session, { authorization: `Bearer ${jwt.token}` }, () => void ca.revoke({ serial: svid.serial, reason: 'test' }));
    assert.equal(r.status, 200);
    assert.equal(r.complete, false, 'the stream is cut off, not completed');
    assert.ok(await until(() => upstreamClosed.length > upstreamBefore && upstreamClosed.at(-1)!.early), 'the upstream request was aborted');
    const next = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: `Bearer ${jwt.token}` });
      let status = 0;
      let body = '';
      s.setEncoding('utf8');
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (d: string) => (body += d));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
      s.end(plainBody);
    });
    assert.equal(next.status, 403);
    assert.equal((JSON.parse(next.body) as { error: { code: string } }).error.code, 'WARDEN_IDENTITY_REVOKED');
  } finally {
    session.destroy();
    await gw.close(0);
  }
});

test('a closed gateway stops listening for revocations', async () => {
  const baseline = ca.revocations.listenerCount('change');
  const gw = await gateway({ mtls: true }, []);
  assert.equal(ca.revocations.listenerCount('change'), baseline + 1);
  await gw.close(0);
  assert.equal(ca.revocations.listenerCount('change'), baseline);
});

test('HTTP/2 + OIDC JWT: a snapshot blocking the principal aborts its streaming request and refuses it afterwards; the block expires', async (t) => {
  const issuer = await new TestIssuer('https://idp.example').start();
  t.after(() => issuer.stop());
  const signing = await makeKey('k1');
  issuer.keys.push(signing);
  const authn = createAuthenticators({ jwtIssuers: [{ issuer: issuer.issuer, audience: 'warden-gateway', jwksUri: issuer.url }], jwtSvidAudience: null, mtls: false }, null);
  await authn.jwt!.warm();
  const listener = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const records: AuditRecord[] = [];
  const snapshots = permitAllSnapshots(TEST_SECRET, TEST_KEY);
  const gw = await startTestGateway({
    tls: { certPem: listener.chainPem, keyPem: listener.keyPem, caPem: ca.bundlePem() },
    authn,
    snapshots,
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    upstreams: [upstreamConfig.parse({ name: 'u', url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, models: ['m'] })],
  });
  const token = await issuer.sign(signing, { sub: 'mallory', nowSeconds: Math.floor(Date.now() / 1000) });
  const blocking = (until: number | null): PepSnapshot => {
    const cur = snapshots.current()!;
    return { ...cur, version: cur.version + 1, blockedPrincipals: new Map([['User::"mallory"', until]]) };
  };
  const session = h2connect(gw.url, { ca: ca.bundlePem(), servername: 'localhost' });
  session.on('error', () => undefined);
  const plain = (): Promise<{ status: number; code?: string }> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: `Bearer ${token}` });
      let status = 0;
      let body = '';
      s.setEncoding('utf8');
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (d: string) => (body += d));
      s.on('end', () => resolve({ status, code: status === 200 ? undefined : (JSON.parse(body) as { error: { code: string } }).error.code }));
      s.on('error', reject);
      s.end(plainBody);
    });
  try {
    assert.equal((await plain()).status, 200);
    const upstreamBefore = upstreamClosed.length;
    const r = await streamOn(session, { authorization: `Bearer ${token}` }, () => void snapshots.update(blocking(null)));
    assert.equal(r.status, 200);
    assert.equal(r.complete, false, 'the stream is cut off, not completed');
    assert.ok(r.afterFirst <= 2, `${r.afterFirst} chunks arrived after the block`);
    assert.ok(await until(() => upstreamClosed.length > upstreamBefore && upstreamClosed.at(-1)!.early), 'the upstream request was aborted');
    assert.ok(await until(() => records.some((x) => x.code === 'WARDEN_AUTHZ_PRINCIPAL_BLOCKED' && x.status === 200)), 'the audit record says the stream was cut off by the block');
    assert.deepEqual(await plain(), { status: 403, code: 'WARDEN_AUTHZ_PRINCIPAL_BLOCKED' });
    // Only that request: the session stays open.
    assert.equal(session.destroyed, false);
    // A block that has ended refuses nothing, even before the next snapshot leaves it out.
    snapshots.update(blocking(Date.now() - 1));
    assert.equal((await plain()).status, 200);
  } finally {
    session.destroy();
    await gw.close(0);
  }
});

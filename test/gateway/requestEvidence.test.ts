// A request's evidence — its audit record, its metric and its alert event — must tell the same,
// true story: a client that hangs up is a cancel (not an internal error, not its bad JSON, not a
// deny), a known caller's refusals name the caller, and no record carries an API key, however the
// client encoded it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { serializeRecord, type AuditRecord } from '../../src/audit/index.js';
import type { RunningGateway } from '../../src/gateway/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { loadOrCreateAuthority, type CertificateAuthority } from '../../src/identity/index.js';
import { createGatewayObserver, type DecisionEvent } from '../../src/observe/index.js';
import { TEST_KEY, startTestGateway } from '../helpers/inProcessGateway.js';
import { startScriptedModelServer, type ScriptedModelServer } from '../helpers/modelServer.js';
import { h2Frame, hpack } from '../helpers/h2Frames.js';
import { until } from '../helpers/until.js';

const PRINCIPAL = 'ApiKey::"test"';
const EVENT = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'tok ' } }] })}\n\n`;

let dir: string;
let authority: CertificateAuthority;
let upstream: ScriptedModelServer;
let gw: RunningGateway;
let registry: Registry;
const records: AuditRecord[] = [];
const events: DecisionEvent[] = [];
const logLines: { level: number; msg: string }[] = [];
const openSockets: { destroy(): void }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-evidence-'));
  authority = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  // Streams events 200 ms apart when asked to, so a client can leave mid-answer.
  upstream = await startScriptedModelServer((_req, res, body) => {
    if (!(JSON.parse(body) as { stream?: boolean }).stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const timer = setInterval(() => res.write(EVENT), 200);
    res.write(EVENT);
    res.on('close', () => clearInterval(timer));
  });
  const c = await authority.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  registry = new Registry();
  const { observe } = createGatewayObserver({ registry, upstreams: [{ name: 'm', models: ['m'] }], emitDecision: (e) => events.push(e) });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  gw = await startTestGateway({
    tls: { certPem: c.chainPem, keyPem: c.keyPem, caPem: authority.bundlePem() },
    upstreams: [upstreamConfig.parse({ name: 'm', url: upstream.url, models: ['m'], timeoutMs: 30_000 })],
    // Kept as the audit writers store records (serializeRecord: canonical JSON, credentials redacted).
    audit: { append: async (r: AuditRecord) => void records.push(JSON.parse(serializeRecord(r, 65_536)) as AuditRecord), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    onRequestDone: observe,
    logger: pino({ level: 'info' }, sink),
    maxBodyBytes: 4096,
  });
});

after(async () => {
  for (const s of openSockets) s.destroy();
  await gw.close(0);
  await upstream.stop();
  await authority.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The requests_total series as `decision code` → count (other labels folded). */
async function requestCounts(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of (await registry.getSingleMetric('warden_gateway_requests_total')!.get()).values) {
    const k = `${v.labels.decision} ${v.labels.code}`;
    out.set(k, (out.get(k) ?? 0) + v.value);
  }
  return out;
}

/**
 * Runs `act`, waits for its one audit record and returns it with the metric series that moved and
 * the alert events emitted, checking that no error-level line was logged meanwhile.
 */
async function evidenceOf(act: () => Promise<void> | void): Promise<{ record: AuditRecord; moved: string[]; events: DecisionEvent[] }> {
  const r0 = records.length;
  const e0 = events.length;
  const l0 = logLines.length;
  const m0 = await requestCounts();
  await act();
  await until('the request is audited', () => records.length > r0);
  // onRequestDone runs right after the audit stage; a later stray record would show below.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(records.length, r0 + 1, 'one audit record per request');
  const m1 = await requestCounts();
  const moved = [...m1].filter(([k, v]) => v !== (m0.get(k) ?? 0)).map(([k, v]) => `${k} +${v - (m0.get(k) ?? 0)}`);
  const errors = logLines.slice(l0).filter((l) => l.level >= 50);
  assert.deepEqual(errors, [], 'nothing logged at error level');
  return { record: records[r0]!, moved, events: events.slice(e0) };
}

/** An HTTP/1.1 request over TLS on a raw socket: `then` runs once the head (and `body`) are written. */
function h1(head: string, body: string, then: (socket: ReturnType<typeof tlsConnect>) => void): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: authority.bundlePem(), servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      socket.write(`${head}\r\n\r\n${body}`);
      then(socket);
    });
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
  });
}

function h2session(): ClientHttp2Session {
  const session = h2connect(`https://127.0.0.1:${gw.port}`, { ca: authority.bundlePem(), servername: 'localhost' });
  session.on('error', () => undefined);
  return session;
}

function h2status(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const st = session.request(headers);
    st.on('response', (h) => resolve(Number(h[':status'])));
    st.on('error', reject);
    st.resume();
    st.end();
  });
}

const auth = `authorization: Bearer ${TEST_KEY}`;
const chatHead = (length: number, extra = ''): string => `POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n${auth}\r\ncontent-type: application/json\r\ncontent-length: ${length}${extra}`;

function assertCancelled(e: { record: AuditRecord; moved: string[]; events: DecisionEvent[] }, status = 499): void {
  assert.equal(e.record.code, 'WARDEN_GATEWAY_CLIENT_CLOSED');
  assert.equal(e.record.status, status);
  assert.equal(e.record.decision, 'allow', 'a cancel is no refusal');
  assert.equal(e.record.principal, PRINCIPAL);
  assert.deepEqual(e.moved, ['cancelled WARDEN_GATEWAY_CLIENT_CLOSED +1'], 'the metric calls it a cancel, neither a deny nor an error');
  assert.deepEqual(e.events.map((x) => [x.decision, x.code]), [['allow', 'WARDEN_GATEWAY_CLIENT_CLOSED']], 'alert rules do not count it as a deny');
}

for (const [name, leave] of [
  ['HTTP/1.1: a client that drops the connection mid-upload is a cancel (499), not an internal error', (s: { destroy(): void }) => s.destroy()],
  ['HTTP/1.1: a connection half-closed (FIN) after half a declared body is recorded as the client leaving: at the server it is the same EOF as a dropped connection', (s: { end(): void }) => s.end()],
] as const) {
  test(name, async () => {
    const before = upstream.received();
    const e = await evidenceOf(async () => {
      await h1(chatHead(1000), '{"model":"m","me', (s) => setTimeout(() => leave(s), 100));
    });
    assertCancelled(e);
    assert.equal(upstream.received(), before, 'nothing was forwarded');
  });
}



/**
 * What a browser or curl sends when a user cancels an upload: HEADERS and DATA without
 * END_STREAM, then RST_STREAM(CANCEL). (node:http2's stream.close() would end the stream first.)
 * With `endingFirst`, the cancel comes as an empty DATA frame with END_STREAM and the RST_STREAM
 * behind it in one write, as a client that batches its frames sends it.
 */
function h2CancelUpload(body: string, endingFirst = false): Promise<void> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: authority.bundlePem(), servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      const headers = hpack([[':method', 'POST'], [':scheme', 'https'], [':path', '/v1/chat/completions'], [':authority', 'localhost'], ['authorization', `Bearer ${TEST_KEY}`], ['content-type', 'application/json']]);
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(4, 0, 0, Buffer.alloc(0)), h2Frame(1, 0x4, 1, headers), h2Frame(0, 0, 1, Buffer.from(body))]));
      setTimeout(() => {
        const cancel = Buffer.alloc(4);
        cancel.writeUInt32BE(h2constants.NGHTTP2_CANCEL);
        const endStream = h2Frame(0, 0x1, 1, Buffer.alloc(0));
        socket.write(endingFirst ? Buffer.concat([endStream, h2Frame(3, 0, 1, cancel)]) : h2Frame(3, 0, 1, cancel));
        resolve();
      }, 100);
    });
    socket.on('error', () => undefined);
    // The connection itself stays open: only the stream is cancelled.
    socket.on('data', () => undefined);
    openSockets.push(socket);
  });
}

test('HTTP/2: a stream reset (CANCEL) halfway through a JSON body is a cancel, not the client\'s bad JSON', async () => {
  const e = await evidenceOf(() => h2CancelUpload('{"model":"m",'));
  assertCancelled(e);
});

test('HTTP/2: a whole JSON object whose stream is reset before it ended is a cancel, never authorized or forwarded', async () => {
  const before = upstream.received();
  const e = await evidenceOf(() => h2CancelUpload(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'partial upload, then cancelled' }] })));
  assertCancelled(e);
  assert.equal(e.record.policies, undefined, 'a body the client never finished is not authorized');
  assert.equal(upstream.received(), before, 'nor forwarded');
});

test('HTTP/2: END_STREAM and RST_STREAM CANCEL read together after half a JSON body is a cancel, not the client\'s bad JSON', async () => {
  const before = upstream.received();
  const e = await evidenceOf(() => h2CancelUpload('{"model":"m",', true));
  assertCancelled(e);
  assert.equal(upstream.received(), before, 'nothing was forwarded');
});

test('HTTP/2: a whole JSON object whose stream is ended and reset in one write is a cancel, never authorized or forwarded', async () => {
  const before = upstream.received();
  const e = await evidenceOf(() => h2CancelUpload(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'uploaded, then cancelled' }] }), true));
  assertCancelled(e);
  assert.equal(e.record.policies, undefined, 'a body the client cancelled is not authorized');
  assert.equal(upstream.received(), before, 'nor forwarded');
});

test('HTTP/2: half a JSON body ended by a client that stays for the answer is its bad JSON (400), answered', async () => {
  const session = h2session();
  try {
    let status = 0;
    const e = await evidenceOf(async () => {
      status = await new Promise<number>((resolve, reject) => {
        const st = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
        st.on('response', (h) => resolve(Number(h[':status'])));
        st.on('error', reject);
        st.resume();
        st.end('{"model":"m",');
      });
    });
    assert.equal(status, 400, 'the client got its answer');
    assert.deepEqual([e.record.status, e.record.code, e.record.decision], [400, 'WARDEN_GATEWAY_BAD_JSON', 'deny']);
    assert.deepEqual(e.moved, ['deny WARDEN_GATEWAY_BAD_JSON +1']);
  } finally {
    session.destroy();
  }
});

test('HTTP/2: node:http2\'s stream.close(CANCEL) with a content-length it did not reach is a cancel (nghttp2 resets the short stream before its END_STREAM reads as a body)', async () => {
  const before = upstream.received();
  const session = h2session();
  try {
    const e = await evidenceOf(async () => {
      const st = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', 'content-length': '1000' });
      st.on('error', () => undefined);
      st.write('{"model":"m",');
      await new Promise((r) => setTimeout(r, 100));
      st.close(h2constants.NGHTTP2_CANCEL);
    });
    assertCancelled(e);
    assert.equal(upstream.received(), before, 'nothing was forwarded');
  } finally {
    session.destroy();
  }
});

test('HTTP/2: a session lost mid-upload is a cancel', async () => {
  const session = h2session();
  const e = await evidenceOf(() => {
    const st = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
    st.on('error', () => undefined);
    st.write('{"model":"m",');
    setTimeout(() => session.destroy(), 100);
  });
  assertCancelled(e);
});

test('a cancel after the answer began is the same cancel in the record, the metric and the alert event', async () => {
  const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const e = await evidenceOf(async () => {
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: authority.bundlePem(), servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
        socket.write(`${chatHead(Buffer.byteLength(body))}\r\n\r\n${body}`);
      });
      socket.on('error', () => undefined);
      socket.once('data', () => socket.destroy());
      socket.on('close', () => resolve());
    });
  });
  assertCancelled(e, 200);
});

test('a known caller\'s 404, 405 and 413 are recorded with its principal; anonymous callers get 401 on any path', async () => {
  const known: [string, string, number, string][] = [
    ['GET /v1/nope', `GET /v1/nope HTTP/1.1\r\nhost: localhost\r\n${auth}\r\nconnection: close`, 404, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND'],
    ['GET /v1/chat/completions', `GET /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n${auth}\r\nconnection: close`, 405, 'WARDEN_GATEWAY_METHOD_NOT_ALLOWED'],
    ['POST (declared 10 MB)', chatHead(10_000_000), 413, 'WARDEN_GATEWAY_BODY_TOO_LARGE'],
  ];
  for (const [what, head, status, code] of known) {
    let answer = '';
    const e = await evidenceOf(async () => {
      answer = await h1(head, '', () => undefined);
    });
    assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `), what);
    assert.equal(e.record.status, status, what);
    assert.equal(e.record.code, code, what);
    assert.equal(e.record.principal, PRINCIPAL, `${what}: the record names the caller`);
    assert.equal(e.record.decision, 'deny', what);
    assert.deepEqual(e.moved, [`deny ${code} +1`], what);
  }
  const session = h2session();
  try {
    const e = await evidenceOf(async () => {
      assert.equal(await h2status(session, { ':method': 'GET', ':path': '/nope', authorization: `Bearer ${TEST_KEY}` }), 404);
    });
    assert.equal(e.record.principal, PRINCIPAL, 'HTTP/2 404: the record names the caller');
    assert.equal(e.record.code, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND');
  } finally {
    session.destroy();
  }
  for (const head of ['GET /v1/nope HTTP/1.1\r\nhost: localhost\r\nconnection: close', 'GET /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nconnection: close', 'POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-length: 10000000']) {
    let answer = '';
    const e = await evidenceOf(async () => {
      answer = await h1(head, '', () => undefined);
    });
    assert.match(answer, /^HTTP\/1.1 401 /, `anonymous ${head.split('\r\n')[0]}: 401, whatever the route`);
    assert.equal(e.record.code, 'WARDEN_AUTHN_MISSING');
    assert.equal(e.record.principal, undefined);
  }
  // The unauthenticated probes stay open.
  for (const path of ['/healthz', '/v2/health/live']) {
    const answer = await h1(`GET ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close`, '', () => undefined);
    assert.match(answer, /^HTTP\/1.1 200 /, path);
  }
});

test('an API key in the path stays out of the record however it is percent-encoded', async () => {
  const [, prefix, secret] = TEST_KEY.split('_');
  const hex = (s: string): string => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  const forms = [
    TEST_KEY,
    TEST_KEY.replaceAll('_', '%5F'),
    TEST_KEY.replaceAll('_', '%5f'),
    hex(TEST_KEY),
    TEST_KEY.replaceAll('_', '%255F'),
    `%E0%A4%A${TEST_KEY.replaceAll('_', '%5F')}%FF%`,
  ];
  for (const form of forms) {
    const e = await evidenceOf(async () => {
      await h1(`GET /v1/${form} HTTP/1.1\r\nhost: localhost\r\n${auth}\r\nconnection: close`, '', () => undefined);
    });
    const json = JSON.stringify(e.record);
    assert.equal(e.record.code, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND');
    assert.ok(!json.includes(secret!) && !json.includes(hex(secret!)) && !json.includes(prefix!), `no key in ${form}'s record: ${e.record.action}`);
  }
});

// Deadlines of an upstream call that undici's idle timers do not give: the wait for a free pool
// connection, the whole call (a stream that never ends but is never silent), and a client that
// stops reading (which pauses the upstream body, and with it undici's body timeout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { connect, createServer as netServer, type AddressInfo, type Socket } from 'node:net';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import type { RunningGateway } from '../../src/gateway/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { SECOND_TEST_KEY, startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { startScriptedModelServer, type ScriptedModelServer } from '../helpers/modelServer.js';
import { until } from '../helpers/until.js';

const HEADERS = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
/** Another principal's requests (ApiKey::"test2"). */
const OTHER = { authorization: `Bearer ${SECOND_TEST_KEY}`, 'content-type': 'application/json' };
const CHAT = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
const EMBED = JSON.stringify({ model: 'm', input: 'hello' });

/** An event stream that never ends, but never falls silent for long (undici's body timeout never fires). */
function endlessStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const timer = setInterval(() => res.write(': keep-alive\n\n'), 50);
  res.on('close', () => clearInterval(timer));
}

async function withGateway(upstream: ScriptedModelServer, config: Record<string, unknown>, body: (gw: RunningGateway, records: AuditRecord[]) => Promise<void>): Promise<void> {
  const records: AuditRecord[] = [];
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], retries: 0, ...config })],
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
  });
  try {
    await body(gw, records);
  } finally {
    await gw.close(0);
    await upstream.stop();
  }
}

test('a request waiting for a free pool connection gets 504 UPSTREAM_TIMEOUT after timeoutMs, not held against the circuit', { timeout: 20_000 }, async () => {
  const upstream = await startScriptedModelServer((req, res) => {
    if (req.url?.includes('chat')) endlessStream(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}');
  });
  // One connection, taken by an endless stream; a circuit that would open on the first failure.
  await withGateway(upstream, { timeoutMs: 400, connections: 1, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } }, async (gw, records) => {
    const stream = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: CHAT });
    assert.equal(stream.statusCode, 200);
    stream.body.on('error', () => undefined).resume();
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: EMBED });
      const json = (await r.body.json()) as { error: { code: string; message: string } };
      assert.equal(r.statusCode, 504);
      assert.equal(json.error.code, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT', 'not CIRCUIT_OPEN: a full pool says nothing about the model server');
      assert.match(json.error.message, /did not answer within 400 ms \(all 1 connections to it were busy\)/);
      assert.ok(Date.now() - started >= 350, 'not before the deadline');
    }
    assert.equal(upstream.received(), 1, 'the queued requests never reached the model server');
    await until('both were audited', () => records.length === 2);
    assert.deepEqual(records.map((r) => [r.status, r.code]), [[504, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT'], [504, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT']]);
    assert.equal(gw.inFlight(), 1, 'only the stream');
  });
});

test('a model server that never answers its headers gets 504 after timeoutMs; one client\'s timeouts do not open the circuit for others, a second principal\'s do', { timeout: 20_000 }, async () => {
  // A deadline missed may be the request's own doing (a large max_tokens on a healthy server):
  // one client alone must not take the model server away from everyone else.
  const upstream = await startScriptedModelServer(() => undefined);
  await withGateway(upstream, { timeoutMs: 300, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } }, async (gw) => {
    const code = async (headers: Record<string, string>): Promise<string> => {
      const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers, body: EMBED });
      return `${r.statusCode} ${((await r.body.json()) as { error: { code: string } }).error.code}`;
    };
    const timeout = '504 WARDEN_GATEWAY_UPSTREAM_TIMEOUT';
    assert.deepEqual([await code(HEADERS), await code(HEADERS), await code(HEADERS)], [timeout, timeout, timeout], 'one principal\'s timeouts leave the circuit closed');
    await until('the upstream calls were aborted', () => upstream.closed.length === 3);
    assert.equal(await code(OTHER), timeout, 'another principal still reaches the model server');
    assert.equal(await code(HEADERS), '503 WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN', 'two principals\' timeouts: the model server, not a client');
    assert.equal(upstream.received(), 4);
  });
});

test('a hung model server opens the circuit even when more requests come than there are connections', { timeout: 30_000 }, async () => {
  // Requests that reached the silent model server count, though others wait for their connections
  // meanwhile; only those still waiting are not held against it.
  const upstream = await startScriptedModelServer(() => undefined);
  await withGateway(upstream, { timeoutMs: 300, connections: 2, circuitBreaker: { failureThreshold: 3, openMs: 60_000 } }, async (gw) => {
    const rounds: string[][] = [];
    for (let round = 0; round < 4; round++) {
      // Two principals, so the timeouts are the model server's (see the test above).
      const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: i % 2 ? OTHER : HEADERS, body: EMBED })));
      const codes: string[] = [];
      for (const r of rs) codes.push(`${r.statusCode} ${((await r.body.json()) as { error: { code: string } }).error.code}`);
      rounds.push(codes);
    }
    const timeout = '504 WARDEN_GATEWAY_UPSTREAM_TIMEOUT';
    const open = '503 WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN';
    assert.deepEqual(rounds[0], Array(6).fill(timeout), 'all were let through before any failed');
    // At least 2 reached the model server in round 1 (more once the first were cut off), 2 more in
    // round 2 if needed: the threshold of 3 is reached by then.
    assert.ok(rounds[1]!.every((c) => c === timeout) || rounds[1]!.every((c) => c === open), rounds[1]!.join(', '));
    assert.deepEqual(rounds.slice(2), [Array(6).fill(open), Array(6).fill(open)], 'fail fast once the threshold was reached');
    assert.ok(upstream.received() <= 12, `only requests of the first two rounds reached the model server: ${upstream.received()}`);
  });
});

test('a connection that never opens (TLS handshake never answered) counts against the circuit: nothing else holds it', { timeout: 20_000 }, async () => {
  const sockets: Socket[] = [];
  const silent = netServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const records: AuditRecord[] = [];
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `https://127.0.0.1:${(silent.address() as AddressInfo).port}`, models: ['m'], retries: 0, timeoutMs: 300, connections: 2, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } })],
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
  });
  try {
    const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: EMBED });
    const json = (await r.body.json()) as { error: { code: string; message: string } };
    assert.equal(r.statusCode, 504);
    assert.equal(json.error.code, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT');
    assert.doesNotMatch(json.error.message, /busy/, 'a connection was free: the model server did not take it');
    const again = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: EMBED });
    assert.equal(((await again.body.json()) as { error: { code: string } }).error.code, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN');
  } finally {
    await gw.close(0);
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test('maxDurationMs ends a stream that never ends: event: error UPSTREAM_TIMEOUT, upstream aborted, audited; held against its circuit once a second principal\'s stream ends so too', { timeout: 20_000 }, async () => {
  const upstream = await startScriptedModelServer((_req, res) => endlessStream(res));
  await withGateway(upstream, { timeoutMs: 300, maxDurationMs: 1000, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } }, async (gw, records) => {
    const started = Date.now();
    const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: CHAT });
    assert.equal(r.statusCode, 200);
    const text = await r.body.text();
    assert.ok(Date.now() - started >= 900, 'not before maxDurationMs');
    assert.match(text, /event: error\ndata: .*"code":"WARDEN_GATEWAY_UPSTREAM_TIMEOUT"/);
    await until('the upstream call ended', () => upstream.closed.length === 1);
    assert.deepEqual(upstream.closed, [true], 'aborted by the gateway');
    await until('audited', () => records.length === 1);
    assert.deepEqual([records[0]!.status, records[0]!.code], [200, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT']);
    assert.equal(gw.inFlight(), 0);
    // A client asking for a long answer can make any stream outlast the cap: not on its own.
    const second = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: OTHER, body: CHAT });
    assert.equal(second.statusCode, 200, 'one principal\'s stream did not open the circuit');
    assert.match(await second.body.text(), /WARDEN_GATEWAY_UPSTREAM_TIMEOUT/);
    const next = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: CHAT });
    await next.body.dump();
    assert.equal(next.statusCode, 503, 'the model server that would not finish for two principals opened its circuit');
  });
});

test('a client that stops reading is cut off after timeoutMs: upstream aborted, audited as CLIENT_STALLED', { timeout: 20_000 }, async () => {
  const chunk = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(8000) } }] })}\n\n`;
  // As fast as the gateway takes it, for as long as it takes it.
  const upstream = await startScriptedModelServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pump = (): void => {
      while (!res.destroyed) if (!res.write(chunk)) return void res.once('drain', pump);
    };
    pump();
  });
  await withGateway(upstream, { timeoutMs: 500 }, async (gw, records) => {
    const socket = connect(gw.port, '127.0.0.1', () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${CHAT.length}\r\n\r\n${CHAT}`);
      socket.pause(); // and never reads
    });
    socket.on('error', () => undefined);
    try {
      await until('the upstream call ended', () => upstream.closed.length === 1);
      assert.deepEqual(upstream.closed, [true], 'aborted by the gateway');
      await until('audited', () => records.length === 1);
      assert.deepEqual([records[0]!.status, records[0]!.code], [200, 'WARDEN_GATEWAY_CLIENT_STALLED']);
      assert.equal(gw.inFlight(), 0);
    } finally {
      socket.destroy();
    }
  });
});

test('a client reading slowly past maxDurationMs: the answer ends with UPSTREAM_TIMEOUT, but the circuit stays closed (the client held it back)', { timeout: 20_000 }, async () => {
  const chunk = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(8000) } }] })}\n\n`;
  // As fast as the gateway takes it, for as long as it takes it.
  const upstream = await startScriptedModelServer((req, res) => {
    if (!req.url?.includes('chat')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pump = (): void => {
      while (!res.destroyed) if (!res.write(chunk)) return void res.once('drain', pump);
    };
    pump();
  });
  await withGateway(upstream, { timeoutMs: 2000, maxDurationMs: 3000, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } }, async (gw, records) => {
    const socket = connect(gw.port, '127.0.0.1', () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${CHAT.length}\r\n\r\n${CHAT}`);
    });
    socket.on('error', () => undefined);
    // Reads for 2 ms every 100 ms: never silent for timeoutMs, far slower than the upstream sends.
    socket.on('data', () => undefined);
    socket.pause();
    const reader = setInterval(() => {
      socket.resume();
      setTimeout(() => socket.pause(), 2);
    }, 100);
    try {
      await until('audited', () => records.length === 1);
      assert.deepEqual([records[0]!.status, records[0]!.code], [200, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT']);
      const next = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ model: 'm', input: 'hi' }) });
      await next.body.dump();
      assert.equal(next.statusCode, 200, 'the circuit did not open');
    } finally {
      clearInterval(reader);
      socket.destroy();
    }
  });
});

test('upstream config: maxDurationMs defaults to 10 min and may not be below timeoutMs; connections default to 64', () => {
  const u = upstreamConfig.parse({ name: 'm', url: 'http://127.0.0.1:9000' });
  assert.equal(u.maxDurationMs, 600_000);
  assert.equal(u.connections, 64);
  assert.equal(upstreamConfig.parse({ name: 'm', url: 'http://127.0.0.1:9000', maxDurationMs: null }).maxDurationMs, null);
  const bad = upstreamConfig.safeParse({ name: 'm', url: 'http://127.0.0.1:9000', timeoutMs: 5000, maxDurationMs: 1000 });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues[0]!.path, ['maxDurationMs']);
});

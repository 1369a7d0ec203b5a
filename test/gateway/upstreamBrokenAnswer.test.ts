// An upstream answer that breaks off while the gateway reads it whole (output guards, token
// accounting) has not reached the client yet: the client gets a clean 502 / 504, not a reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import { MemoryRateLimiter, RateLimitPolicy } from '../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { errorCodes, type ErrorCode } from '../../src/errors/index.js';
import { SECOND_TEST_KEY, startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

for (const [mode, status, code] of [
  ['reset', 502, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE'],
  ['stall', 504, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT'],
] as const) {
  test(`an answer that ${mode === 'reset' ? 'is cut off' : 'stalls'} mid-body while the gateway reads it: ${status} ${code}, audited as such`, async () => {
    const open: ServerResponse[] = [];
    const upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"object":"list",');
        open.push(res);
        if (mode === 'reset') setTimeout(() => res.socket?.destroy(), 50);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const records: AuditRecord[] = [];
    const gw = await startTestGateway({
      upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'], timeoutMs: 500 })],
      audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
      // A token limit makes the gateway read the answer whole (to charge its usage).
      rateLimit: new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 1_000_000 }], { limiter: new MemoryRateLimiter() }),
    });
    try {
      const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'x' }) });
      const json = (await r.body.json()) as { error?: { code: string } };
      assert.equal(r.statusCode, status);
      assert.equal(json.error?.code, code);
      for (let i = 0; i < 50 && records.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
      assert.equal(records[0]?.status, status);
      assert.equal(records[0]?.code, code);
    } finally {
      await gw.close(0);
      for (const res of open) res.destroy();
      upstream.closeAllConnections();
      upstream.close();
    }
  });
}

/** A model server whose streams send one event and then break in the way `mode` says. */
async function brokenStreams(mode: 'reset' | 'silence') {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n');
      if (mode === 'reset') setTimeout(() => req.socket.destroy(), 20);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, received: () => received, stop: () => { server.closeAllConnections(); server.close(); } };
}

const chat = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
const chatHeaders = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };

for (const [mode, code, message] of [
  ['reset', 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', 'model server m broke off in the middle of its answer'],
  ['silence', 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT', 'model server m sent nothing for 300 ms in the middle of its answer'],
] as const) {
  test(`streams that break off mid-answer (${mode}) count toward the circuit breaker`, { timeout: 20_000 }, async () => {
    const upstream = await brokenStreams(mode);
    const gw = await startTestGateway({
      upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], timeoutMs: 300, circuitBreaker: { failureThreshold: 2, openMs: 60_000 } })],
    });
    try {
      for (let i = 0; i < 2; i++) {
        // A lost connection is the model server's alone; a silence may be the request's own doing
        // (a huge prompt), so it counts once a second principal's stream falls silent too.
        const headers = mode === 'silence' && i === 1 ? { ...chatHeaders, authorization: `Bearer ${SECOND_TEST_KEY}` } : chatHeaders;
        const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: chat });
        assert.equal(r.statusCode, 200);
        const text = await r.body.text();
        const error = JSON.parse(/event: error\ndata: (.*)\n/.exec(text)![1]!).error as { code: string; message: string };
        assert.deepEqual([error.code, error.message], [code, message], 'the event says what happened');
      }
      const open = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: chatHeaders, body: chat });
      assert.equal(open.statusCode, 503);
      assert.equal(((await open.body.json()) as { error: { code: string } }).error.code, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN');
      assert.equal(upstream.received(), 2, 'the circuit opened after two broken answers');
    } finally {
      await gw.close(0);
      upstream.stop();
    }
  });
}

test('a stream whose client leaves midway does not count as a failure', { timeout: 20_000 }, async () => {
  const upstream = await brokenStreams('silence');
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], timeoutMs: 5000, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } })],
  });
  try {
    for (let i = 0; i < 3; i++) {
      const ac = new AbortController();
      const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: chatHeaders, body: chat, signal: ac.signal });
      assert.equal(r.statusCode, 200);
      const inFlight = gw.inFlight();
      ac.abort(); // "stop generating"
      await r.body.text().catch(() => undefined);
      for (const deadline = Date.now() + 5000; gw.inFlight() === inFlight; await new Promise((res) => setTimeout(res, 20))) assert.ok(Date.now() < deadline, 'the gateway saw the client leave');
    }
    assert.equal(upstream.received(), 3, 'never refused: a client leaving says nothing about the model server');
  } finally {
    await gw.close(0);
    upstream.stop();
  }
});

test('a streamed event larger than the gateway reads ends the stream with an error event that says so', { timeout: 20_000 }, async () => {
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${'q'.repeat(3_000_000)}`); // one "event" with no blank line after it
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'] })],
    // A token limit makes the gateway read the stream event by event (to charge its usage).
    rateLimit: new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 1_000_000 }], { limiter: new MemoryRateLimiter() }),
  });
  try {
    const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: chatHeaders, body: chat });
    const text = await r.body.text();
    const error = JSON.parse(/event: error\ndata: (.*)\n/.exec(text)![1]!).error as { code: string; message: string };
    assert.notEqual(error.message, errorCodes[error.code as ErrorCode].description, 'not the generic text of its code ("could not be reached")');
    assert.match(error.message, /event/);
  } finally {
    await gw.close(0);
    upstream.closeAllConnections();
    upstream.close();
  }
});

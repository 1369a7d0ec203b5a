// A client that leaves while its request is still in the gateway's earlier stages (a slow input
// guard, a Redis rate limiter) must not leave the request hanging: no upstream call, its
// concurrency slot back, one audit record, nothing in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import type { GatewayGuards } from '../../src/gateway/index.js';
import { MemoryRateLimiter, RateLimitPolicy } from '../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

test('a client gone before forwarding: no upstream call, slot released, audited as 499, nothing left in flight', async () => {
  let upstreamHits = 0;
  const upstream = createServer((req, res) => {
    upstreamHits++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [], usage: { prompt_tokens: 1, total_tokens: 1 } })));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const records: AuditRecord[] = [];
  // An input guard that takes 300 ms (a remote detector, say).
  const slowGuard: GatewayGuards = { inspectRequest: () => new Promise((r) => setTimeout(r, 300)), wantsResponse: () => false, transformJson: (_c, j) => j, guardErrorText: (_c, t) => t, streamTransformer: () => null };
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'], timeoutMs: 2000 })],
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    guards: slowGuard,
    rateLimit: new RateLimitPolicy([{ match: { key: '*' }, concurrent: 1 }], { limiter: new MemoryRateLimiter() }),
  });
  try {
    const body = JSON.stringify({ model: 'm', input: 'hello' });
    const socket = connect(gw.port, '127.0.0.1', () => {
      socket.write(`POST /v1/embeddings HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      setTimeout(() => socket.destroy(), 100); // gives up while the guard runs
    });
    socket.on('error', () => undefined);
    for (let i = 0; i < 100 && records.length === 0; i++) await new Promise((r) => setTimeout(r, 30));
    assert.equal(records.length, 1, 'the request was audited');
    assert.equal(records[0]!.status, 499);
    assert.equal(records[0]!.code, 'WARDEN_GATEWAY_CLIENT_CLOSED');
    assert.equal(upstreamHits, 0, 'the model was not called for a client that left');
    assert.equal(gw.inFlight(), 0);
    const next = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body });
    assert.equal(next.statusCode, 200, `the concurrency slot was released: ${await next.body.text()}`);
  } finally {
    await gw.close(0);
    upstream.closeAllConnections();
    upstream.close();
  }
});

test('a half-open circuit does not give its one trial to a client that already left (the circuit would never close again)', async () => {
  let status = 503;
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const slowWhenAsked: GatewayGuards = { inspectRequest: (c) => (c.req.headers['x-slow'] ? new Promise((r) => setTimeout(r, 300)) : undefined), wantsResponse: () => false, transformJson: (_c, j) => j, guardErrorText: (_c, t) => t, streamTransformer: () => null };
  const gw = await startTestGateway({
    guards: slowWhenAsked,
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'], retries: 0, circuitBreaker: { failureThreshold: 2, openMs: 300 } })],
  });
  const body = JSON.stringify({ model: 'm', input: 'hello' });
  const embed = async () => {
    const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body });
    await r.body.dump();
    return r.statusCode;
  };
  try {
    assert.deepEqual([await embed(), await embed()], [503, 503]);
    assert.equal(await embed(), 503, 'open: fails fast');
    status = 200;
    await new Promise((r) => setTimeout(r, 400)); // half-open
    const socket = connect(gw.port, '127.0.0.1', () => {
      socket.write(`POST /v1/embeddings HTTP/1.1\r\nhost: x\r\nx-slow: 1\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      setTimeout(() => socket.destroy(), 100); // leaves during the slow guard
    });
    socket.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await embed(), 200, 'the next live request is the trial, and it closes the circuit');
  } finally {
    await gw.close(0);
    upstream.closeAllConnections();
    upstream.close();
  }
});

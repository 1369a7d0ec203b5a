// A request aborted while it still waits in the upstream pool's queue for a connection (its client
// left, or its headers deadline passed) must never be sent once a connection frees up: the model
// server would do the work (and bill it) for nobody. undici gives the handler its connection
// right before writing the request (UpstreamAnswer.onConnect), which must refuse it then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { startScriptedModelServer } from '../helpers/modelServer.js';
import { until } from '../helpers/until.js';

const HEADERS = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
const embed = (input: string): string => JSON.stringify({ model: 'm', input });
const CHAT_A = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'request-A' }] });
const ANSWER = JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1] }], model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } });

/** Streams keep-alive comments until the returned function ends the stream. */
function keepStreaming(res: ServerResponse): () => void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const timer = setInterval(() => res.write(': keep-alive\n\n'), 50);
  res.on('close', () => clearInterval(timer));
  return () => {
    clearInterval(timer);
    res.end('data: [DONE]\n\n');
  };
}

for (const variant of ['client disconnects', 'headers deadline passes'] as const) {
  test(`a request queued for the pool's one connection whose ${variant} is never sent; the next one is`, { timeout: 30_000 }, async (t) => {
    // A is a stream that goes on (never silent, so no deadline ends it) until the test ends it;
    // every other request is answered at once.
    let endA: (() => void) | null = null;
    const upstream = await startScriptedModelServer((_req, res, body) => {
      if (body.includes('request-A')) endA = keepStreaming(res);
      else res.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER);
    });
    t.after(() => upstream.stop());
    const records: AuditRecord[] = [];
    const gw = await startTestGateway({
      upstreams: [
        upstreamConfig.parse({
          name: 'm',
          url: upstream.url,
          models: ['m'],
          retries: 0,
          connections: 1,
          // B's headers deadline passes in the second variant only.
          timeoutMs: variant === 'client disconnects' ? 10_000 : 500,
          // Any failure held against the model server would refuse C.
          circuitBreaker: { failureThreshold: 1, openMs: 60_000 },
        }),
      ],
      audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    });
    t.after(() => gw.close(0));

    // A takes the one connection and holds it.
    const a = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: CHAT_A });
    assert.equal(a.statusCode, 200);
    const aText = a.body.text();

    // B is queued behind A.
    const bBody = embed('request-B');
    let bAnswer = '';
    const b = connect(gw.port, '127.0.0.1', () => {
      b.write(`POST /v1/embeddings HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${bBody.length}\r\n\r\n${bBody}`);
    });
    b.setEncoding('utf8');
    b.on('data', (d: string) => (bAnswer += d));
    b.on('error', () => undefined);
    t.after(() => b.destroy());
    await until('B is in the gateway', () => gw.inFlight() === 2);
    // Through the pipeline's (synchronous, in-memory) stages to the pool's queue.
    await new Promise((r) => setTimeout(r, 150));

    if (variant === 'client disconnects') {
      b.destroy();
      await until('B was audited', () => records.length === 1);
      assert.deepEqual([records[0]!.status, records[0]!.code], [499, 'WARDEN_GATEWAY_CLIENT_CLOSED']);
    } else {
      await until('B was answered', () => bAnswer.includes('\r\n\r\n{'));
      assert.match(bAnswer, /^HTTP\/1\.1 504 /);
      assert.match(bAnswer, /"code":"WARDEN_GATEWAY_UPSTREAM_TIMEOUT"/);
      assert.match(bAnswer, /all 1 connections to it were busy/);
      await until('B was audited', () => records.length === 1);
      assert.deepEqual([records[0]!.status, records[0]!.code], [504, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT']);
    }

    // C, sent while A still holds the connection: not refused by the circuit (which B's abort must
    // not have opened; A's success would close it again), it gets the connection once A is done.
    let cSettled = false;
    const c = request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: embed('request-C') }).finally(() => (cSettled = true));
    await until('C is in the gateway', () => gw.inFlight() === 2 || cSettled);
    await new Promise((r) => setTimeout(r, 150));
    endA!();
    assert.match(await aText, /data: \[DONE\]/);
    const rc = await c;
    const cText = await rc.body.text();
    assert.equal(rc.statusCode, 200, `C went through: ${cText}`);

    // A and C reached the model server, B never did.
    assert.equal(upstream.received(), 2, `the model server got: ${upstream.bodies.join(' | ')}`);
    assert.ok(upstream.bodies.every((body) => !body.includes('request-B')), 'B never reached the model server');
    assert.ok(upstream.bodies[1]!.includes('request-C'));
    await until('all audited', () => records.length === 3);
    assert.equal(gw.inFlight(), 0);
  });
}

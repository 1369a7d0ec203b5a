import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { createDetectors, createGatewayGuards } from '../../src/detect/index.js';
import { configSchema, upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

// Output guards fail closed: an answer they must read but cannot (compressed, not JSON or SSE)
// is withheld, never passed through unread.

const answer = JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'mail bob@example.org' }, finish_reason: 'stop' }] });

test('a chat answer the guards cannot read (compressed, not JSON, broken JSON) is withheld with 502 WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE; a readable one is redacted', async () => {
  let mode: 'json' | 'gzip' | 'text' | 'broken' = 'json';
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'broken') res.writeHead(200, { 'content-type': 'application/json' }).end(answer.slice(0, -2));
      else if (mode === 'gzip') res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(answer));
      else res.writeHead(200, { 'content-type': mode === 'text' ? 'text/plain' : 'application/json' }).end(answer);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const detectors = createDetectors(configSchema.parse({}).detect, { emit: () => undefined, registry: new Registry() });
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'] })],
    guards: createGatewayGuards(detectors),
  });
  const chat = async () => {
    const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    return { status: r.statusCode, text: await r.body.text() };
  };
  try {
    const ok = await chat();
    assert.equal(ok.status, 200);
    assert.match(ok.text, /\[REDACTED:email\]/);
    for (const m of ['gzip', 'text', 'broken'] as const) {
      mode = m;
      const r = await chat();
      assert.equal(r.status, 502, m);
      assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', m);
      assert.doesNotMatch(r.text, /bob@example/, m);
    }
  } finally {
    await gw.close(0);
    await detectors.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

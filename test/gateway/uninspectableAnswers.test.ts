import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { startGateway } from '../../src/gateway/index.js';
import { createDetectors, createGatewayGuards } from '../../src/detect/index.js';
import { configSchema, upstreamConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';

// Output guards fail closed: an answer they must read but cannot (compressed, not JSON or SSE)
// is withheld, never passed through unread.

const secret = randomBytes(32);
const key = `wdn_abcdefghijkl_${'A'.repeat(43)}`;
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
  const gw = await startGateway({
    host: '127.0.0.1',
    port: 0,
    tls: null,
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'] })],
    snapshots: permitAllSnapshots(secret, key),
    audit: { append: async () => undefined, queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    logger: createLogger({ level: 'silent' }),
    serverSecret: secret,
    maxBodyBytes: 65536,
    guards: createGatewayGuards(detectors),
  });
  const chat = async () => {
    const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
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

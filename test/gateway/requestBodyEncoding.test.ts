import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { upstreamConfig } from '../../src/config/index.js';
import type { RunningGateway } from '../../src/gateway/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

// The bytes the gateway inspects must be the bytes the model server reads.
let upstream: Server;
let gw: RunningGateway;
const received: Buffer[] = [];

before(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'u', url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, models: ['m'] })] });
});
after(async () => {
  await gw.close(0);
  await new Promise<void>((r) => upstream.close(() => r()));
});

async function post(body: Buffer, headers: Record<string, string> = {}) {
  const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers }, body });
  const text = await r.body.text();
  return { status: r.statusCode, text, error: (JSON.parse(text) as { error?: { code: string; message: string } }).error };
}

const chat = (content: Buffer) => Buffer.concat([Buffer.from('{"model":"m","messages":[{"role":"user","content":"'), content, Buffer.from('"}]}')]);

test('a body that is not UTF-8 is refused (the guards would read U+FFFD, the model server the raw bytes)', async () => {
  received.length = 0;
  for (const bad of [Buffer.from([0xff, 0xfe]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82])]) {
    const r = await post(chat(bad));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.error?.code, 'WARDEN_GATEWAY_BAD_JSON');
    assert.equal(r.error?.message, 'request body is not UTF-8');
  }
  assert.equal(received.length, 0);
  const ok = await post(chat(Buffer.from('héllo € 𝄞', 'utf8')));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(received.length, 1);
});

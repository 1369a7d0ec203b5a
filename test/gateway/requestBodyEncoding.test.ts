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

test('a content-encoding other than identity is refused with 415, compressed or merely labelled; identity passes', async () => {
  received.length = 0;
  const body = chat(Buffer.from('hello'));
  const cases: [Buffer, string, RegExp][] = [
    [gzipSync(body), 'gzip', /^content-encoding gzip is not supported/],
    [body, 'gzip', /^content-encoding gzip is not supported/],
    [body, 'br', /^content-encoding br is not supported/],
    [body, 'gzip, identity', /^content-encoding gzip, identity is not supported/],
    [body, 'x"<secret value with spaces>', /^content-encoding this is not supported/],
  ];
  for (const [bytes, encoding, message] of cases) {
    const r = await post(bytes, { 'content-encoding': encoding });
    assert.equal(r.status, 415, `${encoding}: ${r.text}`);
    assert.equal(r.error?.code, 'WARDEN_GATEWAY_UNSUPPORTED_ENCODING');
    assert.match(r.error?.message ?? '', message);
  }
  assert.equal(received.length, 0, 'nothing was forwarded');
  for (const encoding of ['identity', 'Identity ']) {
    const r = await post(body, { 'content-encoding': encoding });
    assert.equal(r.status, 200, r.text);
  }
  assert.equal(received.length, 2);
});

// An upstream answer the gateway gives up on before reading it must not keep its pool connection:
// undici pauses a connection whose answer nobody reads, and a paused one never times out. Here
// Node's HTTP/2 layer refuses to pass on a status outside 200..599, so writeHead throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect as h2connect } from 'node:http2';
import { upstreamConfig } from '../../src/config/index.js';
import { loadOrCreateAuthority } from '../../src/identity/index.js';
import { TEST_KEY, startTestGateway } from '../helpers/inProcessGateway.js';

test('an answer the gateway cannot pass on is dropped with its connection: a one-connection pool serves the next request', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-unread-answer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const authority = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(() => authority.close());
  // First request: status 600 and 100 KiB of a chunked body that never ends. Then a normal answer.
  let served = 0;
  const sockets = new Set<Socket>();
  const upstream = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => {
      if (served++ === 0) {
        const chunk = 'x'.repeat(100 * 1024);
        socket.write(`HTTP/1.1 600 Odd\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      } else {
        const body = JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1] }], model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } });
        socket.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => (sockets.forEach((s) => s.destroy()), new Promise((r) => upstream.close(r))));
  const c = await authority.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const gw = await startTestGateway({
    tls: { certPem: c.chainPem, keyPem: c.keyPem, caPem: authority.bundlePem() },
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, models: ['m'], timeoutMs: 1500, retries: 0, connections: 1 })],
  });
  t.after(() => gw.close(0));
  const session = h2connect(`https://127.0.0.1:${gw.port}`, { ca: authority.bundlePem(), servername: 'localhost' });
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  const embed = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const st = session.request({ ':method': 'POST', ':path': '/v1/embeddings', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
      let status = 0;
      let body = '';
      st.on('response', (h) => (status = Number(h[':status'])));
      st.setEncoding('utf8');
      st.on('data', (d: string) => (body += d));
      st.on('end', () => resolve({ status, body }));
      st.on('error', reject);
      st.end(JSON.stringify({ model: 'm', input: 'hi' }));
    });
  const odd = await embed();
  assert.equal(odd.status, 502, odd.body);
  const next = await embed();
  assert.equal(next.status, 200, `the pool's one connection is free again: ${next.body}`);
  assert.equal(served, 2);
});

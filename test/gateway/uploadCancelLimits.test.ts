// A client that leaves while still sending its body is a cancel and nothing more: it spends no
// rate-limit unit, holds no concurrency slot and counts as no upstream failure, however it left
// (HTTP/1.1 connection dropped, HTTP/2 stream reset mid-body, or ended and reset in one write).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as h2connect, constants as h2constants } from 'node:http2';
import type { AuditRecord } from '../../src/audit/index.js';
import { MemoryRateLimiter, RateLimitPolicy } from '../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { loadOrCreateAuthority } from '../../src/identity/index.js';
import { TEST_KEY, startTestGateway } from '../helpers/inProcessGateway.js';
import { startJsonModelServer } from '../helpers/modelServer.js';
import { h2Frame, hpack } from '../helpers/h2Frames.js';

const CHAT = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });

test('uploads the client abandoned spend no request unit, no concurrency slot and no circuit-breaker failure', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-uploadcancel-'));
  const authority = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  const upstream = await startJsonModelServer(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] }));
  const records: AuditRecord[] = [];
  const sockets: TLSSocket[] = [];
  const c = await authority.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const gw = await startTestGateway({
    tls: { certPem: c.chainPem, keyPem: c.keyPem, caPem: authority.bundlePem() },
    // One request a minute, one at a time, and a breaker that opens on the first failure: any of
    // these spent by a cancelled upload would refuse the live request at the end.
    upstreams: [upstreamConfig.parse({ name: 'm', url: upstream.url, models: ['m'], retries: 0, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } })],
    rateLimit: new RateLimitPolicy([{ match: { key: '*' }, requestsPerMinute: 1, burst: 1, concurrent: 1 }], { limiter: new MemoryRateLimiter() }),
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
  });
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await gw.close(0);
    await upstream.stop();
    await authority.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const tls = (alpn: string, then: (s: TLSSocket) => void): void => {
    const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: authority.bundlePem(), servername: 'localhost', ALPNProtocols: [alpn] }, () => then(s));
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    sockets.push(s);
  };
  const audited = async (n: number): Promise<void> => {
    for (let i = 0; i < 250 && records.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(records.length, n, `request ${n} was audited`);
  };
  /** Half (or all) of the body without END_STREAM, then RST_STREAM CANCEL; `endingFirst`: END_STREAM and the reset in one write. */
  const h2Cancel = (body: string, endingFirst: boolean): void =>
    tls('h2', (s) => {
      const headers = hpack([[':method', 'POST'], [':scheme', 'https'], [':path', '/v1/chat/completions'], [':authority', 'localhost'], ['authorization', `Bearer ${TEST_KEY}`], ['content-type', 'application/json']]);
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(4, 0, 0, Buffer.alloc(0)), h2Frame(1, 0x4, 1, headers), h2Frame(0, 0, 1, Buffer.from(body))]));
      const cancel = Buffer.alloc(4);
      cancel.writeUInt32BE(h2constants.NGHTTP2_CANCEL);
      setTimeout(() => s.write(Buffer.concat([...(endingFirst ? [h2Frame(0, 0x1, 1, Buffer.alloc(0))] : []), h2Frame(3, 0, 1, cancel)])), 100);
    });

  tls('http/1.1', (s) => {
    s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${CHAT.length + 100}\r\n\r\n${CHAT}`);
    setTimeout(() => s.destroy(), 100);
  });
  await audited(1);
  h2Cancel(CHAT.slice(0, 20), false);
  await audited(2);
  h2Cancel(CHAT, true);
  await audited(3);
  assert.deepEqual(records.map((r) => [r.status, r.code]), Array.from({ length: 3 }, () => [499, 'WARDEN_GATEWAY_CLIENT_CLOSED']));
  assert.equal(upstream.received(), 0, 'nothing was forwarded');

  const session = h2connect(`https://127.0.0.1:${gw.port}`, { ca: authority.bundlePem(), servername: 'localhost' });
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  const status = await new Promise<number>((resolve, reject) => {
    const st = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
    st.on('response', (h) => resolve(Number(h[':status'])));
    st.on('error', reject);
    st.resume();
    st.end(CHAT);
  });
  await audited(4);
  assert.equal(status, 200, `the live request was served, not refused (${records[3]!.code})`);
  assert.equal(upstream.received(), 1);
  assert.equal(gw.inFlight(), 0);
});

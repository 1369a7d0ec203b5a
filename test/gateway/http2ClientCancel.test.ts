// An HTTP/2 client that cancels its stream (RST_STREAM CANCEL: "stop generating", a closed tab)
// must end the request as a disconnecting HTTP/1.1 client does: the upstream call aborted, one audit
// record with WARDEN_GATEWAY_CLIENT_CLOSED, nothing left in flight. An HTTP/2 compat response has no
// `destroyed` and reports `writableFinished` true after a reset, so the gateway must ask the stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session } from 'node:http2';
import type { AuditRecord } from '../../src/audit/index.js';
import type { GatewayGuards, RunningGateway } from '../../src/gateway/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { loadOrCreateAuthority } from '../../src/identity/index.js';
import { TEST_KEY, startTestGateway } from '../helpers/inProcessGateway.js';
import { startScriptedModelServer, type ScriptedModelServer } from '../helpers/modelServer.js';
import { until } from '../helpers/until.js';

async function withH2Gateway(upstream: ScriptedModelServer, guards: GatewayGuards | null, body: (gw: RunningGateway, session: ClientHttp2Session, records: AuditRecord[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-h2cancel-'));
  const authority = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  const records: AuditRecord[] = [];
  try {
    const c = await authority.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const gw = await startTestGateway({
      tls: { certPem: c.chainPem, keyPem: c.keyPem, caPem: authority.bundlePem() },
      upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], timeoutMs: 30_000 })],
      audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
      guards,
    });
    const session = h2connect(`https://127.0.0.1:${gw.port}`, { ca: authority.bundlePem(), servername: 'localhost' });
    session.on('error', () => undefined);
    try {
      await body(gw, session, records);
    } finally {
      session.destroy();
      await gw.close(0);
    }
  } finally {
    await upstream.stop();
    await authority.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function chat(session: ClientHttp2Session, stream: boolean) {
  const st = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
  st.on('error', () => undefined);
  st.end(JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] }));
  return st;
}

const EVENT = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'tok ' } }] })}\n\n`;

test('HTTP/2: a stream cancelled mid-answer aborts the upstream call and is audited as CLIENT_CLOSED', { timeout: 15_000 }, async () => {
  // An answer that never ends: only the gateway's abort can close the upstream request.
  const upstream = await startScriptedModelServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const timer = setInterval(() => res.write(EVENT), 20);
    res.on('close', () => clearInterval(timer));
  });
  await withH2Gateway(upstream, null, async (gw, session, records) => {
    const streams = Array.from({ length: 4 }, () => {
      const st = chat(session, true);
      st.once('data', () => st.close(h2constants.NGHTTP2_CANCEL));
      return st;
    });
    await until('every upstream call ended', () => upstream.closed.length === streams.length);
    assert.deepEqual(upstream.closed, streams.map(() => true), 'the gateway aborted every upstream call');
    await until('every request was audited', () => records.length === streams.length);
    assert.deepEqual(records.map((r) => [r.status, r.code]), streams.map(() => [200, 'WARDEN_GATEWAY_CLIENT_CLOSED']));
    assert.equal(gw.inFlight(), 0);
  });
});

test('HTTP/2: a stream cancelled while the gateway waits for the answer aborts the upstream call (499, CLIENT_CLOSED)', { timeout: 15_000 }, async () => {
  const upstream = await startScriptedModelServer(() => undefined); // a model that is still thinking
  await withH2Gateway(upstream, null, async (gw, session, records) => {
    const st = chat(session, false);
    await until('the upstream got the request', () => upstream.received() === 1);
    st.close(h2constants.NGHTTP2_CANCEL);
    await until('the upstream call ended', () => upstream.closed.length === 1);
    assert.deepEqual(upstream.closed, [true], 'aborted by the gateway');
    await until('the request was audited', () => records.length === 1);
    assert.equal(records[0]!.status, 499);
    assert.equal(records[0]!.code, 'WARDEN_GATEWAY_CLIENT_CLOSED');
    assert.equal(gw.inFlight(), 0);
  });
});

test('HTTP/2: a stream cancelled while an output guard reads the answer: upstream aborted, audited as 499 CLIENT_CLOSED', { timeout: 15_000 }, async () => {
  // Headers and half a JSON answer, then nothing: the gateway is still reading it for the guard.
  const upstream = await startScriptedModelServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"choices":[');
  });
  const reading: GatewayGuards = { inspectRequest: () => undefined, wantsResponse: () => true, transformJson: (_c, j) => j, guardErrorText: (_c, t) => t, streamTransformer: () => null };
  await withH2Gateway(upstream, reading, async (gw, session, records) => {
    const st = chat(session, false);
    await until('the upstream answered its headers', () => upstream.received() === 1);
    await new Promise((r) => setTimeout(r, 50)); // its headers reach the gateway, which starts reading
    st.close(h2constants.NGHTTP2_CANCEL);
    await until('the upstream call ended', () => upstream.closed.length === 1);
    assert.deepEqual(upstream.closed, [true]);
    await until('the request was audited', () => records.length === 1);
    assert.deepEqual([records[0]!.status, records[0]!.code], [499, 'WARDEN_GATEWAY_CLIENT_CLOSED']);
    assert.equal(gw.inFlight(), 0);
  });
});

// The listener's resource limits: what a client may hold open before it has proved who it is, and
// how long it may take to send a request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { loadOrCreateAuthority, type CertificateAuthority } from '../../src/identity/index.js';
import { MAX_CONCURRENT_STREAMS, type GatewayOptions, type RunningGateway } from '../../src/gateway/index.js';
import { TEST_KEY, startTestGateway } from '../helpers/inProcessGateway.js';

async function withTlsGateway(body: (gateway: RunningGateway, ca: string) => Promise<void>, overrides: Partial<GatewayOptions> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-listenerlimits-'));
  const authority: CertificateAuthority = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  try {
    const c = await authority.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const gateway = await startTestGateway({ tls: { certPem: c.chainPem, keyPem: c.keyPem, caPem: authority.bundlePem() }, ...overrides });
    try {
      await body(gateway, authority.bundlePem());
    } finally {
      await gateway.close(0);
    }
  } finally {
    await authority.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function tlsConnect(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the handshake completed')));
  });
}

/** Sends `head` (and no body) on HTTP/1.1 over TLS; resolves with everything the gateway sent until it closed the connection. */
function sendHeadOnly(port: number, ca: string, head: string, waitMs = 5000): Promise<{ answer: string; closedByServer: boolean }> {
  return tlsConnect(port, ca).then(
    (socket) =>
      new Promise((resolve) => {
        let answer = '';
        const giveUp = setTimeout(() => {
          socket.destroy();
          resolve({ answer, closedByServer: false });
        }, waitMs);
        socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
        socket.once('end', () => {
          clearTimeout(giveUp);
          socket.destroy();
          resolve({ answer, closedByServer: true });
        });
        socket.on('error', () => undefined);
        socket.write(head);
      }),
  );
}

const postHead = (headers: string) => `POST /v1/embeddings HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 4000\r\n${headers}\r\n`;

test('an anonymous request is refused before its body is read: 401 at once, and the connection is closed instead of reading the body', async () => {
  await withTlsGateway(async (gateway, ca) => {
    const started = Date.now();
    const { answer, closedByServer } = await sendHeadOnly(gateway.port, ca, postHead(''));
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.match(answer, /"code":"WARDEN_AUTHN_MISSING"/);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.ok(closedByServer, 'the gateway closed the connection rather than wait for 4000 body bytes');
    assert.ok(Date.now() - started < 4000, 'the answer did not wait for the body');
  });
});

test('a refused request without a body (404, GET) keeps its keep-alive connection: both pipelined requests are answered', async () => {
  await withTlsGateway(async (gateway, ca) => {
    const get = 'GET /nope HTTP/1.1\r\nhost: localhost\r\n\r\n';
    const r = await sendHeadOnly(gateway.port, ca, get + get, 1500);
    assert.equal(r.answer.match(/HTTP\/1\.1 404 /g)?.length, 2, r.answer);
    assert.doesNotMatch(r.answer, /connection: close/i);
    assert.equal(r.closedByServer, false);
  });
});

test('a body that does not arrive within bodyTimeoutMs gets 408 WARDEN_GATEWAY_BODY_TIMEOUT and a closed connection (HTTP/1.1)', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const started = Date.now();
      const { answer, closedByServer } = await sendHeadOnly(gateway.port, ca, `${postHead(`authorization: Bearer ${TEST_KEY}\r\n`)}{"model"`);
      assert.match(answer, /^HTTP\/1\.1 408 /);
      assert.match(answer, /"code":"WARDEN_GATEWAY_BODY_TIMEOUT"/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      assert.ok(closedByServer);
      assert.ok(Date.now() - started >= 250, 'not before the deadline');
    },
    { bodyTimeoutMs: 300 },
  );
});

function h2Session(port: number, ca: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca, servername: 'localhost' });
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
  });
}

test('HTTP/2: a slow body gets 408 on its stream and the session serves the next request; at most 128 streams per session are advertised', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const session = await h2Session(gateway.port, ca);
      try {
        assert.equal(session.remoteSettings.maxConcurrentStreams, MAX_CONCURRENT_STREAMS);
        assert.equal(MAX_CONCURRENT_STREAMS, 128);
        const slow = session.request({ ':method': 'POST', ':path': '/v1/embeddings', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
        slow.write('{"model"'); // and never the rest
        const [status, text] = await new Promise<[number, string]>((resolve, reject) => {
          let status = 0;
          let text = '';
          slow.once('response', (h) => (status = Number(h[':status'])));
          slow.on('data', (d: Buffer) => (text += d.toString()));
          slow.once('end', () => resolve([status, text]));
          slow.once('error', reject);
          setTimeout(() => reject(new Error('no answer to the slow stream within 5 s')), 5000).unref();
        });
        assert.equal(status, 408);
        assert.equal(JSON.parse(text).error.code, 'WARDEN_GATEWAY_BODY_TIMEOUT');
        // RFC 9113 §8.1: after a complete answer the server asks the client to stop sending (RST_STREAM NO_ERROR).
        await new Promise<void>((resolve, reject) => {
          if (slow.closed) resolve();
          slow.once('close', () => resolve());
          setTimeout(() => reject(new Error('the gateway left the stream open')), 2000).unref();
        });
        assert.equal(slow.rstCode, 0);
        const next = await new Promise<number>((resolve, reject) => {
          const s = session.request({ ':path': '/healthz' });
          s.once('response', (h) => resolve(Number(h[':status'])));
          s.once('error', reject);
          s.resume();
        });
        assert.equal(next, 200, 'the session is still usable');
      } finally {
        session.destroy();
      }
    },
    { bodyTimeoutMs: 300 },
  );
});

test('connections beyond maxConnections are refused at accept; a freed slot is usable again', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const open: TLSSocket[] = [];
      try {
        open.push(await tlsConnect(gateway.port, ca), await tlsConnect(gateway.port, ca));
        await assert.rejects(
          tlsConnect(gateway.port, ca).then((s) => open.push(s)),
          'a third connection is refused',
        );
        open.shift()!.destroy();
        await new Promise((r) => setTimeout(r, 100));
        open.push(await tlsConnect(gateway.port, ca));
      } finally {
        for (const s of open) s.destroy();
      }
    },
    { maxConnections: 2 },
  );
});

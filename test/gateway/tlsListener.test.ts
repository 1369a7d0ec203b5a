import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, TLSSocket } from 'node:tls';
import { loadOrCreateAuthority, type CertificateAuthority } from '../../src/identity/index.js';
import type { RunningGateway } from '../../src/gateway/index.js';
import { startTestGateway } from '../helpers/inProcessGateway.js';

/** A TLS gateway with no upstreams (health routes only) on a fresh CA; `body` runs against it. */
async function withTlsGateway(body: (gateway: RunningGateway, ca: CertificateAuthority) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-tlslistener-'));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  try {
    const gateway = await startTestGateway({ tls: await issueListenerTls(ca) });
    try {
      await body(gateway, ca);
    } finally {
      await gateway.close(0);
    }
  } finally {
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function issueListenerTls(ca: CertificateAuthority) {
  const c = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  return { certPem: c.chainPem, keyPem: c.keyPem, caPem: ca.bundlePem() };
}

/** Opens an HTTP/1.1-over-TLS connection; resolves with the peer's serial and, if asked, the raw answer to one request. */
function http1OverTls(port: number, ca: string, request?: string): Promise<{ serial: string; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      if (!request) {
        socket.end();
        resolve({ serial, answer: '' });
        return;
      }
      let answer = '';
      socket.on('data', (d: Buffer) => {
        answer += d.toString('latin1');
        if (answer.includes('\r\n\r\n')) {
          socket.end();
          resolve({ serial, answer });
        }
      });
      socket.write(request);
    });
    socket.once('error', reject);
  });
}

const HEALTHZ = 'GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n';

test('the TLS listener turns Nagle off on accepted connections, as node:http does for plain ones (streamed tokens must not wait ~40 ms for a delayed ACK)', async () => {
  const setNoDelay = mock.method(TLSSocket.prototype, 'setNoDelay');
  try {
    await withTlsGateway(async (gateway, ca) => {
      // A whole HTTP/1.1 exchange: the server has accepted the connection by the time it answers.
      const { answer } = await http1OverTls(gateway.port, ca.bundlePem(), HEALTHZ);
      assert.match(answer, /^HTTP\/1\.1 200/);
      const serverSide = setNoDelay.mock.calls.filter((call) => (call.this as { _tlsOptions?: { isServer?: boolean } })._tlsOptions?.isServer === true);
      assert.equal(serverSide.length, 1, 'the accepted connection had setNoDelay called once');
      assert.notEqual(serverSide[0]!.arguments[0], false);
    });
  } finally {
    setNoDelay.mock.restore();
  }
});

test('idle HTTP/1.1 keep-alive connections on the TLS listener time out like on the plain one (65 s, announced to the client)', async () => {
  // http2's allowHTTP1 fallback leaves keepAliveTimeout unset, and an idle connection then stays open forever.
  await withTlsGateway(async (gateway, ca) => {
    const { answer } = await http1OverTls(gateway.port, ca.bundlePem(), HEALTHZ);
    assert.match(answer, /\r\nKeep-Alive: timeout=65\r\n/i);
  });
});

test('a renewed listener certificate is served to new connections without a restart', async () => {
  await withTlsGateway(async (gateway, ca) => {
    const before = (await http1OverTls(gateway.port, ca.bundlePem())).serial;
    gateway.updateTls(await issueListenerTls(ca));
    const after = (await http1OverTls(gateway.port, ca.bundlePem())).serial;
    assert.notEqual(after, before, 'new connections get the renewed certificate');
  });
});

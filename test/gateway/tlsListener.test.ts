import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, TLSSocket } from 'node:tls';
import { get as httpsGet } from 'node:https';
import { loadOrCreateAuthority } from '../../src/identity/index.js';
import { startGateway, SnapshotHolder } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';

function peerSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

test('the TLS listener turns Nagle off on accepted connections, as node:http does for plain ones (streamed tokens must not wait ~40 ms for a delayed ACK)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-nodelay-'));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  const setNoDelay = mock.method(TLSSocket.prototype, 'setNoDelay');
  try {
    const c = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: { certPem: c.chainPem, keyPem: c.keyPem, caPem: ca.bundlePem() },
      upstreams: [],
      snapshots: new SnapshotHolder(),
      audit: { append: async () => undefined, queueDepth: 0, flush: async () => undefined, close: async () => undefined },
      logger: createLogger({ level: 'silent' }),
      serverSecret: Buffer.alloc(32),
      maxBodyBytes: 1024,
    });
    try {
      // A whole HTTP/1.1 exchange: the server has accepted the connection by the time it answers.
      const status = await new Promise<number>((resolve, reject) => {
        httpsGet({ host: '127.0.0.1', port: gateway.port, path: '/healthz', ca: ca.bundlePem(), servername: 'localhost', agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).once('error', reject);
      });
      assert.equal(status, 200);
      const serverSide = setNoDelay.mock.calls.filter((call) => (call.this as { _tlsOptions?: { isServer?: boolean } })._tlsOptions?.isServer === true);
      assert.equal(serverSide.length, 1, 'the accepted connection had setNoDelay called once');
      assert.notEqual(serverSide[0]!.arguments[0], false);
    } finally {
      await gateway.close(0);
    }
  } finally {
    setNoDelay.mock.restore();
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a renewed listener certificate is served to new connections without a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-updatetls-'));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  try {
    const issue = async () => {
      const c = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      return { certPem: c.chainPem, keyPem: c.keyPem, caPem: ca.bundlePem() };
    };
    const first = await issue();
    const gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: first,
      upstreams: [],
      snapshots: new SnapshotHolder(),
      audit: { append: async () => undefined, queueDepth: 0, flush: async () => undefined, close: async () => undefined },
      logger: createLogger({ level: 'silent' }),
      serverSecret: Buffer.alloc(32),
      maxBodyBytes: 1024,
    });
    try {
      const before = await peerSerial(gateway.port, ca.bundlePem());
      gateway.updateTls(await issue());
      const after = await peerSerial(gateway.port, ca.bundlePem());
      assert.notEqual(after, before, 'new connections get the renewed certificate');
    } finally {
      await gateway.close(0);
    }
  } finally {
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, TLSSocket } from 'node:tls';
import { loadOrCreateAuthority, type CertificateAuthority } from '../../src/identity/index.js';
import type { GatewayOptions, RunningGateway } from '../../src/gateway/index.js';
import { connect as h2connect } from 'node:http2';
import { createServer } from 'node:http';
import { upstreamConfig } from '../../src/config/index.js';
import { TEST_KEY } from '../helpers/inProcessGateway.js';
import { startTestGateway } from '../helpers/inProcessGateway.js';

const execFileAsync = promisify(execFile);

/** A TLS gateway with no upstreams (health routes only) on a fresh CA; `body` runs against it. */
async function withTlsGateway(body: (gateway: RunningGateway, ca: CertificateAuthority) => Promise<void>, overrides: Partial<GatewayOptions> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-tlslistener-'));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  try {
    const gateway = await startTestGateway({ tls: await issueListenerTls(ca), ...overrides });
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

test('an idle HTTP/2 session is closed after the idle timeout; a request in flight still completes', async () => {
  // A model server that answers after 600 ms of silence: longer than the 200 ms idle timeout.
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[],"object":"list"}'), 600));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  try {
    await withTlsGateway(
      async (gateway, ca) => {
        const session = h2connect(`https://127.0.0.1:${gateway.port}`, { ca: ca.bundlePem(), servername: 'localhost' });
        const closed = new Promise<number>((resolve) => session.once('close', () => resolve(Date.now())));
        const started = Date.now();
        const status = await new Promise<number>((resolve, reject) => {
          const stream = session.request({ ':method': 'POST', ':path': '/v1/embeddings', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
          stream.once('response', (h) => resolve(Number(h[':status'])));
          stream.once('error', reject);
          stream.resume();
          stream.end(JSON.stringify({ model: 'm', input: 'x' }));
        });
        assert.equal(status, 200, 'the request in flight completed');
        const at = await Promise.race([closed, new Promise<null>((r) => setTimeout(() => r(null), 5000).unref())]);
        session.destroy();
        assert.ok(at !== null && at - started < 5000, 'the idle session was closed by the gateway');
      },
      { upstreams: [upstreamConfig.parse({ name: 'm', url, models: ['m'] })], idleTimeoutMs: 200 },
    );
  } finally {
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

test('a header block over 16 KiB is refused on HTTP/2 as on HTTP/1.1; one under it passes on both', async () => {
  await withTlsGateway(async (gateway, ca) => {
    const pad = (n: number) => 'x'.repeat(n);
    const h1 = async (n: number) => (await http1OverTls(gateway.port, ca.bundlePem(), `GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-pad: ${pad(n)}\r\n\r\n`)).answer.split(' ')[1];
    const session = h2connect(`https://127.0.0.1:${gateway.port}`, { ca: ca.bundlePem(), servername: 'localhost' });
    session.on('error', () => undefined);
    const h2 = (n: number) =>
      new Promise<string>((resolve) => {
        const stream = session.request({ ':path': '/healthz', 'x-pad': pad(n) });
        stream.once('response', (h) => resolve(String(h[':status'])));
        stream.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
        stream.once('close', () => resolve(`closed ${stream.rstCode}`));
        stream.resume();
        stream.end();
      });
    try {
      assert.equal(await h1(8000), '200');
      assert.equal(await h2(8000), '200');
      assert.equal(await h1(20_000), '431');
      assert.notEqual(await h2(20_000), '200', 'refused, as on HTTP/1.1');
      // Node's client keeps to the advertised limit itself; curl (nghttp2) sends what it is given,
      // and nghttp2 on the server let it through: the gateway answers 431 with its code, and the
      // session serves on. Each line: status, HTTP version, new connections.
      const caFile = join(mkdtempSync(join(tmpdir(), 'warden-h2-headers-')), 'ca.pem');
      writeFileSync(caFile, ca.bundlePem());
      const url = `https://localhost:${gateway.port}/healthz`;
      const curl = ['-s', '-m', '10', '--http2', '--cacert', caFile, '--resolve', `localhost:${gateway.port}:127.0.0.1`];
      const status = [...curl, '-o', '/dev/null', '-w', '%{http_code} %{http_version} %{num_connects}\n'];
      for (const n of [8000, 17_000, 30_000]) {
        const { stdout } = await execFileAsync('curl', [...status, '-H', `x-pad: ${pad(n)}`, url, '--next', ...status, url]);
        assert.equal(stdout, `${n > 16_384 ? 431 : 200} 2 1\n200 2 0\n`, `${n} bytes over HTTP/2, then a small request on the same session`);
      }
      // Counted in octets: 9,000 octets of UTF-8 (4,500 characters é) pass, as on HTTP/1.1.
      assert.equal((await execFileAsync('curl', [...status, '-H', `x-pad: ${'é'.repeat(4500)}`, url])).stdout, '200 2 1\n');
      const { stdout: answer } = await execFileAsync('curl', [...curl, '-H', `x-pad: ${pad(17_000)}`, url]);
      assert.equal((JSON.parse(answer) as { error: { code: string } }).error.code, 'WARDEN_GATEWAY_HEADERS_TOO_LARGE');
    } finally {
      session.destroy();
    }
  });
});

test('hop-by-hop answer headers (also those the upstream names in Connection, and ones HTTP/2 forbids) never reach the client, on HTTP/1.1 or HTTP/2', async () => {
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res
        .writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive, x-backend-node', 'x-backend-node': '10.0.3.7', 'proxy-connection': 'keep-alive', 'x-model-latency': '3' })
        .end('{"data":[],"object":"list"}'),
    );
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  const body = JSON.stringify({ model: 'm', input: 'x' });
  try {
    await withTlsGateway(
      async (gateway, ca) => {
        const h1 = await http1OverTls(gateway.port, ca.bundlePem(), `POST /v1/embeddings HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        assert.match(h1.answer, /^HTTP\/1\.1 200 /);
        assert.match(h1.answer, /\r\nx-model-latency: 3\r\n/i, 'end-to-end headers pass');
        assert.doesNotMatch(h1.answer, /x-backend-node|proxy-connection/i);
        const session = h2connect(`https://127.0.0.1:${gateway.port}`, { ca: ca.bundlePem(), servername: 'localhost' });
        try {
          const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
            const stream = session.request({ ':method': 'POST', ':path': '/v1/embeddings', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
            stream.once('response', (h) => resolve(h));
            stream.once('error', reject);
            stream.resume();
            stream.end(body);
          });
          assert.equal(headers[':status'], 200);
          assert.equal(headers['x-model-latency'], '3');
          assert.equal(headers['x-backend-node'], undefined);
        } finally {
          session.destroy();
        }
      },
      { upstreams: [upstreamConfig.parse({ name: 'm', url, models: ['m'] })] },
    );
  } finally {
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

test('an answer the model server breaks off is reset on HTTP/2 (INTERNAL_ERROR), not ended as if complete', async () => {
  const upstream = createServer((req, res) => {
    req.resume();
    // A body of unknown length (chunked), cut after its first part.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"object":"list","data":[');
    setTimeout(() => res.socket?.destroy(), 50);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as { port: number }).port;
  try {
    await withTlsGateway(
      async (gateway, ca) => {
        const session = h2connect(gateway.url, { ca: ca.bundlePem(), servername: 'localhost' });
        try {
          const stream = session.request({ ':method': 'POST', ':path': '/v1/embeddings', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
          stream.end(JSON.stringify({ model: 'm', input: 'hello' }));
          let body = '';
          let ended = false;
          stream.on('data', (d: Buffer) => (body += d.toString()));
          stream.on('end', () => (ended = true));
          stream.on('error', () => undefined);
          const rstCode = await new Promise<number>((r) => stream.on('close', () => r(stream.rstCode)));
          assert.equal(body, '{"object":"list","data":[', 'what the model server sent before it broke off');
          assert.equal(ended, false, 'the stream did not end cleanly');
          assert.equal(rstCode, 2, 'RST_STREAM INTERNAL_ERROR');
        } finally {
          session.close();
        }
      },
      { upstreams: [upstreamConfig.parse({ name: 'u', url: `http://127.0.0.1:${port}`, models: ['m'] })] },
    );
  } finally {
    upstream.close();
  }
});

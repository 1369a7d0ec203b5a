// HTTP/1.1 requests node:http cannot parse never reach the pipeline. The gateway still answers
// them in its own error shape (a stable code, a request id, JSON), closes the connection, and
// counts them; node's default would be a bare "400 Bad Request" with no code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ErrorCode } from '../../src/errors/index.js';
import type { GatewayOptions, RunningGateway } from '../../src/gateway/index.js';
import { startTestGateway, withTlsGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

interface Exchange {
  /** Everything the gateway sent until it closed the connection. */
  text: string;
  status: number;
  body: { error: { code: string; message: string; type: string; requestId: string } } | null;
  headers: Record<string, string>;
}

/**
 * Writes `parts` (a pause of `pauseMs` between them) on a new connection and reads until the
 * gateway closes it. On the plain listener the client never closes its own side (half-open), so
 * only the gateway can (node's TLS client answers the gateway's close itself).
 */
function exchange(port: number, ca: string | null, parts: string[], pauseMs = 0): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = ca ? tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }) : netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the gateway did not close the connection'));
    }, 5_000);
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', () => undefined);
    // Half-open: the gateway's FIN alone does not show whether it closed its socket. Writing after
    // it does: a closed socket answers with a reset, which closes this one.
    if (!ca) socket.once('end', () => [1500, 1800].forEach((ms) => setTimeout(() => !socket.destroyed && socket.write('x'), ms)));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parse(text));
    });
    socket.once(ca ? 'secureConnect' : 'connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
        if (!socket.destroyed) socket.write(part);
      }
    });
  });
}

const STATUS_LINE = /HTTP\/1\.1 \d{3} /g;

/** The last answer on the connection (earlier, valid requests may have had theirs). */
function parse(text: string): Exchange {
  const starts = [...text.matchAll(STATUS_LINE)];
  const answer = starts.length === 0 ? '' : text.slice(starts.at(-1)!.index);
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  let json: Exchange['body'] = null;
  try {
    json = JSON.parse(body) as Exchange['body'];
  } catch {
    /* not JSON: asserted by the caller */
  }
  return { text, status: Number(statusLine.split(' ')[1]), body: json, headers };
}

function assertAnswered(e: Exchange, status: number, code: string): void {
  assert.equal(e.status, status, e.text);
  assert.ok(e.body, `a JSON error body: ${e.text}`);
  assert.equal(e.body.error.code, code);
  assert.equal(e.headers['content-type'], 'application/json');
  assert.equal(e.headers.connection, 'close');
  assert.match(e.headers['x-warden-request-id'] ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(e.body.error.requestId, e.headers['x-warden-request-id']);
  assert.equal(Number(e.headers['content-length']), Buffer.byteLength(e.text.slice(e.text.lastIndexOf('\r\n\r\n') + 4)));
}

const SMUGGLE = 'POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n';
const BAD_HEADER = 'GET /healthz HTTP/1.1\r\nhost: localhost\r\nbad header: secret-token-value\r\n\r\n';

async function withBoth(body: (port: number, ca: string | null, seen: ErrorCode[]) => Promise<void>, overrides: Partial<GatewayOptions> = {}): Promise<void> {
  const seenTls: ErrorCode[] = [];
  await withTlsGateway((gw, ca) => body(gw.port, ca, seenTls), { onMalformedRequest: (c) => seenTls.push(c), ...overrides });
  const seenPlain: ErrorCode[] = [];
  const plain: RunningGateway = await startTestGateway({ onMalformedRequest: (c) => seenPlain.push(c), ...overrides });
  try {
    await body(plain.port, null, seenPlain);
  } finally {
    await plain.close(0);
  }
}

test('an unparsable HTTP/1.1 request (content-length with transfer-encoding, a bad header name) gets 400 WARDEN_GATEWAY_MALFORMED_REQUEST in JSON, naming the parser rule, never the client bytes; TLS and plain', { timeout: 30_000 }, async () => {
  await withBoth(async (port, ca, seen) => {
    const smuggled = await exchange(port, ca, [SMUGGLE]);
    assertAnswered(smuggled, 400, 'WARDEN_GATEWAY_MALFORMED_REQUEST');
    assert.match(smuggled.body!.error.message, /not valid HTTP\/1\.1 \(HPE_[A-Z_]+\)/);
    assert.equal([...smuggled.text.matchAll(STATUS_LINE)].length, 1, 'one answer: the smuggled request was never read');
    const bad = await exchange(port, ca, [BAD_HEADER]);
    assertAnswered(bad, 400, 'WARDEN_GATEWAY_MALFORMED_REQUEST');
    assert.doesNotMatch(bad.text, /secret-token-value|bad header/);
    assert.deepEqual(seen, ['WARDEN_GATEWAY_MALFORMED_REQUEST', 'WARDEN_GATEWAY_MALFORMED_REQUEST']);
  });
});

test('HTTP/1.1 headers over 16 KiB get 431 WARDEN_GATEWAY_HEADERS_TOO_LARGE in JSON; TLS and plain', { timeout: 30_000 }, async () => {
  await withBoth(async (port, ca, seen) => {
    const e = await exchange(port, ca, [`GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-pad: ${'x'.repeat(20_000)}\r\n\r\n`]);
    assertAnswered(e, 431, 'WARDEN_GATEWAY_HEADERS_TOO_LARGE');
    assert.deepEqual(seen, ['WARDEN_GATEWAY_HEADERS_TOO_LARGE']);
  });
});

test('HTTP/1.1 headers that stop arriving get 408 WARDEN_GATEWAY_HEADERS_TIMEOUT in JSON; TLS and plain', { timeout: 30_000 }, async () => {
  await withBoth(
    async (port, ca, seen) => {
      const e = await exchange(port, ca, ['GET /healthz HTTP/1.1\r\nhost: local']);
      assertAnswered(e, 408, 'WARDEN_GATEWAY_HEADERS_TIMEOUT');
      assert.match(e.body!.error.message, /within 300 ms/);
      assert.deepEqual(seen, ['WARDEN_GATEWAY_HEADERS_TIMEOUT']);
    },
    { headersTimeoutMs: 300 },
  );
});

test('a malformed request after a valid one on a kept-alive connection: the first answer, then the JSON 400', { timeout: 30_000 }, async () => {
  await withBoth(async (port, ca) => {
    const e = await exchange(port, ca, ['GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n', BAD_HEADER], 200);
    assert.match(e.text, /^HTTP\/1\.1 200 /, 'the valid request was answered');
    assertAnswered(e, 400, 'WARDEN_GATEWAY_MALFORMED_REQUEST');
  });
});

test('a body that breaks the chunked encoding mid-way: no answer under another request id, the connection closed', { timeout: 30_000 }, async () => {
  await withBoth(async (port, ca, seen) => {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`;
    const e = await exchange(port, ca, [`${head}5\r\n{"mod\r\n`, 'zz\r\n'], 200);
    assert.equal(e.text, '', 'the request being handled ends as the client leaving (499 in its audit record)');
    assert.deepEqual(seen, [], 'counted by the pipeline under its own request, not as a malformed one');
  });
});

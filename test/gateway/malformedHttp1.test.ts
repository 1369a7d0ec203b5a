// HTTP/1.1 requests node:http cannot parse never reach the pipeline. The gateway still answers
// them in its own error shape (a stable code, a request id, JSON), closes the connection, and
// counts them; node's default would be a bare "400 Bad Request" with no code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ErrorCode } from '../../src/errors/index.js';
import type { GatewayOptions, RunningGateway } from '../../src/gateway/index.js';
import { startTestGateway, withTlsGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { rawHttp1Exchange, assertMalformedAnswer as assertAnswered, STATUS_LINE, SMUGGLE, BAD_HEADER, type Exchange } from '../helpers/rawHttp1.js';

/** A raw exchange with the gateway: over TLS (HTTP/1.1 by ALPN) when `ca` is given, else plain. */
function exchange(port: number, ca: string | null, parts: string[], pauseMs = 0): Promise<Exchange> {
  return rawHttp1Exchange(port, ca ? { ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] } : null, parts, pauseMs);
}

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

// The sidecar's listeners answer HTTP/1.1 that node:http cannot parse the way the gateway does
// (test/gateway/malformedHttp1.test.ts): JSON with a stable code and a request id, the connection
// closed, counted in stats.malformed; nothing reaches the workload. Node's default would be a
// bare "400 Bad Request".
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { startSidecar, AllowListAuthorizer, type Sidecar, type SidecarOptions } from '../../src/gateway/sidecar/index.js';
import { RevocationList, loadOrCreateAuthority, type SvidMaterial } from '../../src/identity/index.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload } from '../identity/helpers/workloads.js';
import { rawHttp1Exchange, assertMalformedAnswer, STATUS_LINE, SMUGGLE, BAD_HEADER } from '../helpers/rawHttp1.js';

const SERVICE = 'spiffe://warden.local/svc/model';
const CALLER = 'spiffe://warden.local/svc/caller';

interface Running {
  sidecar: Sidecar;
  port: number;
  outboundPort: number;
  /** Requests the workload received. */
  seen: unknown[];
  /** TLS options of a caller presenting its SVID (the sidecar is checked by the bundle, not by a host name). */
  callerTls: ConnectionOptions;
  callerSvid: SvidMaterial;
}

async function startRealSidecar(t: TestContext, overrides: Partial<SidecarOptions> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sidecar-malformed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(() => ca.close());
  const echo = await startEchoWorkload();
  t.after(() => new Promise((r) => echo.server.close(r)));
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity: new StaticSvidSource(await issueMaterial(ca, SERVICE)),
    revocations: new RevocationList(),
    authorizer: new AllowListAuthorizer([{ from: CALLER, to: SERVICE, paths: ['/*'], methods: ['GET', 'POST'] }]),
    upstreamUrl: echo.url,
    outboundPort: 0,
    outbound: [{ name: 'model', url: 'https://127.0.0.1:1', spiffeId: SERVICE }],
    ...overrides,
  });
  t.after(() => sidecar.close());
  const callerSvid = await issueMaterial(ca, CALLER);
  return {
    sidecar,
    port: Number(new URL(sidecar.url).port),
    outboundPort: Number(new URL(sidecar.outboundUrl!).port),
    seen: echo.seen,
    callerSvid,
    callerTls: { cert: callerSvid.chainPem, key: callerSvid.keyPem, ca: callerSvid.bundlePem, servername: 'localhost', checkServerIdentity: () => undefined },
  };
}

test('sidecar: content-length with transfer-encoding, or a bad header name, gets 400 WARDEN_GATEWAY_MALFORMED_REQUEST in JSON on the mTLS and the outbound listener; never the client bytes, never the workload', { timeout: 30_000 }, async (t) => {
  const s = await startRealSidecar(t);
  for (const [port, tls] of [
    [s.port, s.callerTls],
    [s.outboundPort, null],
  ] as const) {
    const smuggled = await rawHttp1Exchange(port, tls, [SMUGGLE]);
    assertMalformedAnswer(smuggled, 400, 'WARDEN_GATEWAY_MALFORMED_REQUEST');
    assert.match(smuggled.body!.error.message, /not valid HTTP\/1\.1 \(HPE_[A-Z_]+\)/);
    assert.equal([...smuggled.text.matchAll(STATUS_LINE)].length, 1, 'one answer: the smuggled request was never read');
    const bad = await rawHttp1Exchange(port, tls, [BAD_HEADER]);
    assertMalformedAnswer(bad, 400, 'WARDEN_GATEWAY_MALFORMED_REQUEST');
    assert.doesNotMatch(bad.text, /secret-token-value|bad header/);
  }
  assert.equal(s.sidecar.stats.malformed, 4);
  assert.deepEqual(s.seen, [], 'nothing was forwarded to the workload');
  assert.equal(s.sidecar.stats.forwarded, 0);
});

test('sidecar: a malformed request after a valid one on a kept-alive mTLS connection: the workload answer, then the JSON 400', { timeout: 30_000 }, async (t) => {
  const s = await startRealSidecar(t);
  const e = await rawHttp1Exchange(s.port, s.callerTls, ['GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n', BAD_HEADER], 200);
  assert.match(e.text, /^HTTP\/1\.1 200 /, 'the valid request was forwarded and answered');
  assertMalformedAnswer(e, 400, 'WARDEN_GATEWAY_MALFORMED_REQUEST');
  assert.equal(s.seen.length, 1);
});

test('sidecar: headers over maxHeaderBytes get 431 WARDEN_GATEWAY_HEADERS_TOO_LARGE; headers that stop arriving get 408 WARDEN_GATEWAY_HEADERS_TIMEOUT after headersTimeoutMs; both listeners', { timeout: 30_000 }, async (t) => {
  const s = await startRealSidecar(t, { headersTimeoutMs: 300 });
  for (const [port, tls] of [
    [s.port, s.callerTls],
    [s.outboundPort, null],
  ] as const) {
    const large = await rawHttp1Exchange(port, tls, [`GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-pad: ${'x'.repeat(20_000)}\r\n\r\n`]);
    assertMalformedAnswer(large, 431, 'WARDEN_GATEWAY_HEADERS_TOO_LARGE');
    assert.match(large.body!.error.message, /exceed 16384 bytes/);
    const slow = await rawHttp1Exchange(port, tls, ['GET /healthz HTTP/1.1\r\nhost: local']);
    assertMalformedAnswer(slow, 408, 'WARDEN_GATEWAY_HEADERS_TIMEOUT');
    assert.match(slow.body!.error.message, /within 300 ms/);
  }
  assert.equal(s.sidecar.stats.malformed, 4);
});

test('sidecar: a TLS handshake without a client SVID is refused at the TLS layer, not answered in HTTP or counted as malformed', { timeout: 30_000 }, async (t) => {
  const s = await startRealSidecar(t);
  const { cert: _cert, key: _key, ...noClientCert } = s.callerTls;
  const e = await rawHttp1Exchange(s.port, noClientCert, ['GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n']);
  assert.equal(e.text, '', 'no HTTP answer on a connection whose handshake failed');
  assert.equal(s.sidecar.stats.malformed, 0);
  assert.ok(s.sidecar.stats.rejectedHandshakes >= 1);
});

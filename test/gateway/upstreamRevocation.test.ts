import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate, webcrypto } from 'node:crypto';
import { request } from 'undici';
import { RevocationList, loadOrCreateAuthority, type CertificateAuthority } from '../../src/identity/index.js';
import { x509, ECDSA_SHA256, EC_P256, toPem, pemCertificateBlocks } from '../../src/identity/x509.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { issueMaterial } from '../identity/helpers/workloads.js';

// The gateway's side of upstream mTLS under revocation (docs/gateway-auth-and-limits.md, "Warden
// sidecar upstreams"): what a compromised model server must not get past, and what the client sees.

const MODEL = 'spiffe://warden.local/svc/model';
const GATEWAY = 'spiffe://warden.local/warden/gateway/local';

async function authority(t: { after(fn: () => unknown): void }): Promise<CertificateAuthority> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-upstream-revocation-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(() => ca.close());
  return ca;
}

async function gatewayTo(t: { after(fn: () => unknown): void }, ca: CertificateAuthority, port: number, revocations: RevocationList) {
  const svid = await issueMaterial(ca, GATEWAY);
  const gateway = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'sidecar', url: `https://127.0.0.1:${port}`, models: ['m'], timeoutMs: 5000, retries: 0, mtls: { spiffeId: MODEL } })],
    upstreamSvid: { current: () => svid },
    upstreamRevocations: revocations,
    trustDomain: 'warden.local',
  });
  t.after(() => gateway.close(0));
  return gateway;
}

const chat = (url: string, stream: boolean) =>
  request(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] }) });

test('a revoked intermediate is not hidden by a decoy certificate in the chain the upstream presents', { timeout: 20_000 }, async (t) => {
  const ca = await authority(t);
  const sidecar = await issueMaterial(ca, MODEL);
  const [leaf, intermediatePem] = pemCertificateBlocks(sidecar.chainPem);
  // Same subject and key identifier as the real intermediate, another key, expired: OpenSSL skips
  // it and verifies through the real one, while Node's issuerCertificate links pair by name.
  const intermediate = new x509.X509Certificate(intermediatePem!);
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const decoy = await x509.X509CertificateGenerator.create({
    serialNumber: '7777777777',
    subject: intermediate.subject,
    issuer: intermediate.issuer,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    notBefore: new Date(Date.now() - 2 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.SubjectKeyIdentifierExtension(intermediate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId)],
  });
  const server = createTlsServer({ cert: `${leaf}\n${toPem(decoy)}${intermediatePem}\n`, key: sidecar.keyPem }, (s) => s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'));
  const sockets = new Set<import('node:net').Socket>();
  server.on('secureConnection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => (sockets.forEach((s) => s.destroy()), new Promise((r) => server.close(r))));
  const revocations = new RevocationList();
  await revocations.add({ kind: 'serial', value: new X509Certificate(intermediatePem!).serialNumber, reason: 'keyCompromise' });
  const gateway = await gatewayTo(t, ca, (server.address() as AddressInfo).port, revocations);
  // (A chain whose links do not verify by signature is refused whatever is revoked.)
  const refused = await chat(gateway.url, false);
  assert.equal(refused.statusCode, 502);
  assert.equal(((await refused.body.json()) as { error: { code: string } }).error.code, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE');
});

test('a stream in flight when its upstream is revoked ends with an upstream error, naming neither the upstream identity nor the client as revoked', { timeout: 20_000 }, async (t) => {
  const ca = await authority(t);
  const sidecar = await issueMaterial(ca, MODEL);
  const server = createHttpsServer({ cert: sidecar.chainPem, key: sidecar.keyPem, ca: ca.bundlePem(), requestCert: true }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"id":"1","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => (server.closeAllConnections(), new Promise((r) => server.close(r))));
  const revocations = new RevocationList();
  const gateway = await gatewayTo(t, ca, (server.address() as AddressInfo).port, revocations);
  const streaming = await chat(gateway.url, true);
  assert.equal(streaming.statusCode, 200);
  const chunks: string[] = [];
  streaming.body.setEncoding('utf8');
  const ended = new Promise<void>((resolve) => {
    streaming.body.on('data', (c: string) => {
      chunks.push(c);
      // Revoked once the first event is through.
      if (chunks.length === 1) void revocations.add({ kind: 'spiffe_id', value: MODEL, reason: 'keyCompromise' });
    });
    streaming.body.on('end', resolve);
    streaming.body.on('error', () => resolve());
  });
  await ended;
  const text = chunks.join('');
  assert.match(text, /"content":"hi"/, 'what came before the revocation was passed on');
  assert.match(text, /event: error\ndata: .*WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE/);
  assert.doesNotMatch(text, /WARDEN_IDENTITY_REVOKED|spiffe:\/\//, 'the client learns neither the upstream identity nor that it is itself revoked');
});

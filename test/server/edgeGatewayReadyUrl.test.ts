// `warden gateway` prints (and --ready-json reports as gatewayUrl) a URL clients can use: one its
// listener certificate names. Bound to 0.0.0.0 it used to print https://0.0.0.0:PORT, which no
// client can verify (the certificate names no such host).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden, startEdgeGateway, loadServerSecret } from '../../src/server/index.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';

/** A control plane (`warden server`) and a way to start remote gateways against it on `host`. */
async function controlPlane(t: TestContext) {
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const dataDir = tempDataDir('warden-edge-url-cp-');
  cleanups.push(() => removeDir(dataDir));
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false, gateway: false });
  cleanups.push(() => warden.close());
  const caPem = readFileSync(warden.ready.caBundle, 'utf8');
  const admin = new Agent({ connect: { ca: caPem } });
  cleanups.push(() => admin.close());
  const pep = await request(`${warden.ready.adminUrl}/api/v1/pep/tokens`, { method: 'POST', dispatcher: admin, headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'edge-url' }) });
  assert.equal(pep.statusCode, 201);
  const token = ((await pep.body.json()) as { token: string }).token;

  const startEdge = async (host: string, files?: { certPem: string; keyPem: string }) => {
    const gwDir = tempDataDir('warden-edge-url-gw-');
    cleanups.push(() => removeDir(gwDir));
    let tlsFiles = {};
    if (files) {
      writeFileSync(join(gwDir, 'cert.pem'), files.certPem);
      writeFileSync(join(gwDir, 'key.pem'), files.keyPem, { mode: 0o600 });
      tlsFiles = { tlsCertFile: join(gwDir, 'cert.pem'), tlsKeyFile: join(gwDir, 'key.pem') };
    }
    const gwConfig = loadConfig({ dataDir: gwDir, cwd: gwDir, env: {}, overrides: { 'gateway.host': host, 'gateway.port': 0 } });
    const edge = await startEdgeGateway({ config: gwConfig, logger: createLogger({ level: 'silent' }), controlPlaneUrl: warden.ready.adminUrl, token, caPem, name: 'edge-url', serverSecret: loadServerSecret(dataDir, {}), ...tlsFiles });
    cleanups.push(() => edge.close());
    return edge;
  };
  return { warden, caPem, startEdge };
}

/** Whether a TLS client verifying `name` (and nothing else overridden) accepts the listener on 127.0.0.1:port. */
function verifiesAs(name: string, port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: name, ca }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

test('warden gateway bound to 0.0.0.0 with a certificate from the control plane: the ready URL is https://localhost:PORT, which a client with bundle.pem verifies as is', { timeout: 60_000 }, async (t) => {
  const { caPem, startEdge } = await controlPlane(t);
  const edge = await startEdge('0.0.0.0');
  assert.equal(edge.url, `https://localhost:${edge.gateway.port}`);
  const client = new Agent({ connect: { ca: caPem } });
  t.after(() => client.close());
  const r = await request(`${edge.url}/healthz`, { dispatcher: client });
  assert.equal(r.statusCode, 200, await r.body.text());
  assert.equal(await verifiesAs('0.0.0.0', edge.gateway.port, caPem), false, 'the bind address is no name of the certificate');
});

test('warden gateway with --tls-cert: bound to 0.0.0.0 it advertises the certificate\'s name; on loopback, its listen address when the certificate names it', { timeout: 60_000 }, async (t) => {
  const { warden, caPem, startEdge } = await controlPlane(t);
  const publicCert = await warden.ca.issueServerCertificate({ dnsNames: ['gw.example.test'], ipAddresses: [], ttlSeconds: 3600 });
  const wildcard = await startEdge('0.0.0.0', { certPem: publicCert.chainPem, keyPem: publicCert.keyPem });
  assert.equal(wildcard.url, `https://gw.example.test:${wildcard.gateway.port}`);
  assert.equal(await verifiesAs('gw.example.test', wildcard.gateway.port, caPem), true);

  const localCert = await warden.ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], ttlSeconds: 3600 });
  const loopback = await startEdge('127.0.0.1', { certPem: localCert.chainPem, keyPem: localCert.keyPem });
  assert.equal(loopback.url, `https://127.0.0.1:${loopback.gateway.port}`, 'unchanged: the certificate names 127.0.0.1');
  const client = new Agent({ connect: { ca: caPem } });
  t.after(() => client.close());
  assert.equal((await request(`${loopback.url}/healthz`, { dispatcher: client })).statusCode, 200);
});

// A remote gateway (`warden gateway`) given another server secret than its control plane's used to
// start, report ready and answer every valid API key with 401 WARDEN_AUTHN_KEY_INVALID (its
// hashes of the keys match none of the control plane's), sending users off to rotate good keys.
// The snapshot now carries a check of the secret (an HMAC of a fixed label, never the secret).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden, startEdgeGateway, loadServerSecret } from '../../src/server/index.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';

async function controlPlane(t: TestContext) {
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const dataDir = tempDataDir('warden-edge-secret-cp-');
  cleanups.push(() => removeDir(dataDir));
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false, gateway: false });
  cleanups.push(() => warden.close());
  const caPem = readFileSync(warden.ready.caBundle, 'utf8');
  const client = new Agent({ connect: { ca: caPem } });
  cleanups.push(() => client.close());
  const admin = async (path: string, body: object) => {
    const r = await request(`${warden.ready.adminUrl}/api/v1${path}`, { method: 'POST', dispatcher: client, headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.statusCode, 201);
    return (await r.body.json()) as { token?: string; key?: string };
  };
  const token = (await admin('/pep/tokens', { name: 'edge-secret' })).token!;
  const apiKey = (await admin('/keys', { name: 'team', scopes: ['model:*'] })).key!;
  const startEdge = async (serverSecret: Uint8Array) => {
    const gwDir = tempDataDir('warden-edge-secret-gw-');
    cleanups.push(() => removeDir(gwDir));
    const gwConfig = loadConfig({ dataDir: gwDir, cwd: gwDir, env: {}, overrides: { 'gateway.port': 0 } });
    const edge = await startEdgeGateway({ config: gwConfig, logger: createLogger({ level: 'silent' }), controlPlaneUrl: warden.ready.adminUrl, token, caPem, name: 'edge-secret', serverSecret });
    cleanups.push(() => edge.close());
    return edge;
  };
  return { client, apiKey, startEdge, secret: loadServerSecret(dataDir, {}) };
}

test('warden gateway with another server secret than the control plane\'s refuses to start (WARDEN_CONFIG_INVALID, the secret never in the message); with the same one its keys work', { timeout: 60_000 }, async (t) => {
  const { client, apiKey, startEdge, secret } = await controlPlane(t);
  const wrong = randomBytes(32);
  await assert.rejects(startEdge(wrong), (err: { code?: string; message?: string }) => {
    assert.equal(err.code, 'WARDEN_CONFIG_INVALID');
    assert.match(err.message ?? '', /server secret .* is not the control plane's/);
    for (const s of [wrong, secret]) {
      assert.ok(!err.message!.includes(Buffer.from(s).toString('base64')) && !err.message!.includes(Buffer.from(s).toString('hex')), 'no secret in the message');
    }
    return true;
  });
  const edge = await startEdge(secret);
  const r = await request(`${edge.url}/v1/models`, { dispatcher: client, headers: { authorization: `Bearer ${apiKey}` } });
  assert.equal(r.statusCode, 200, await r.body.text());
});

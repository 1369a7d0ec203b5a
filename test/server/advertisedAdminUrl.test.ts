// The admin URL Warden advertises (server.json, the ready line) must be one its certificate covers:
// with server.hostnames [localhost] it used to be https://127.0.0.1:PORT, which every CLI command
// then failed to verify (ERR_TLS_CERT_ALTNAME_INVALID).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden } from '../../src/server/index.js';
import { advertisedHttpsUrl } from '../../src/server/advertisedUrl.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';
import { cliInProcess as cli } from '../helpers/cliInProcess.js';


test('advertisedHttpsUrl: the listen address when the certificate names it, otherwise a name it has', () => {
  const defaults = ['localhost', '127.0.0.1', '::1'];
  assert.equal(advertisedHttpsUrl('127.0.0.1', 7443, defaults), 'https://127.0.0.1:7443', 'defaults unchanged');
  assert.equal(advertisedHttpsUrl('127.0.0.1', 7443, ['localhost']), 'https://localhost:7443');
  assert.equal(advertisedHttpsUrl('::1', 7443, ['localhost']), 'https://localhost:7443');
  assert.equal(advertisedHttpsUrl('::1', 7443, defaults), 'https://[::1]:7443');
  assert.equal(advertisedHttpsUrl('0.0.0.0', 7443, defaults), 'https://127.0.0.1:7443');
  assert.equal(advertisedHttpsUrl('0.0.0.0', 7443, ['cp.example.com']), 'https://cp.example.com:7443');
  assert.equal(advertisedHttpsUrl('10.0.0.5', 7443, ['cp.example.com']), 'https://10.0.0.5:7443', 'nothing better for another address');
  assert.equal(advertisedHttpsUrl('cp.example.com', 7443, ['CP.example.com']), 'https://cp.example.com:7443');
});

test('server.hostnames [localhost]: server.json names https://localhost:PORT, reachable with bundle.pem; identity commands take --server', async (t) => {
  const dataDir = tempDataDir('warden-admin-url-');
  t.after(() => removeDir(dataDir));
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'server.port': 0, 'gateway.port': 0, 'server.hostnames': ['localhost'] } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false });
  t.after(() => warden.close());

  const server = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { adminUrl: string; gatewayUrl: string; caBundle: string };
  assert.match(server.adminUrl, /^https:\/\/localhost:\d+$/);
  assert.match(server.gatewayUrl, /^https:\/\/localhost:\d+$/);
  assert.equal(warden.ready.adminUrl, server.adminUrl, 'the ready line says the same');
  const agent = new Agent({ connect: { ca: readFileSync(server.caBundle, 'utf8') } });
  t.after(() => agent.close());
  for (const url of [server.adminUrl, server.gatewayUrl]) {
    const res = await request(`${url}/healthz`, { dispatcher: agent });
    await res.body.dump();
    assert.equal(res.statusCode, 200, `${url} verifies with bundle.pem`);
  }

  // server.json alone is enough for the CLI now; --server wins over WARDEN_ADMIN_URL.
  const dd = ['--data-dir', dataDir];
  const viaFile = await cli([...dd, 'identity', 'ca', 'show', '--format', 'json'], { WARDEN_ADMIN_TOKEN: warden.ready.adminToken! });
  assert.equal(viaFile.code, 0, viaFile.stderr);
  const viaFlag = await cli([...dd, 'identity', 'token', 'create', '--spiffe-id', 'spiffe://warden.local/svc/a', '--server', server.adminUrl, '--token', warden.ready.adminToken!, '--format', 'json'], { WARDEN_ADMIN_URL: 'https://localhost:1' });
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  assert.ok((JSON.parse(viaFlag.stdout) as { token?: string }).token);
});

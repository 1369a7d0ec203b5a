// Control plane and admin API URLs with user:password are refused before anything is sent, and no
// message (error, log, CLI output) ever shows the credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkControlPlaneUrl, IdentityClient } from '../../src/identity/index.js';
import { AdminClient } from '../../src/cli/adminClient.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger, redactUrl } from '../../src/observe/index.js';
import { startEdgeGateway } from '../../src/server/index.js';
import { WardenError } from '../../src/errors/index.js';
import { runCli, tempDataDir, removeDir } from '../helpers/warden.js';

const SECRET = 'CPSECRETPW';
const WITH_PASSWORD = `https://ops:${SECRET}@127.0.0.1:1`;
const WITH_TOKEN_AS_USER = `https://${SECRET}@127.0.0.1:1/`;

function refusedWithoutEcho(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WardenError, String(err));
    assert.equal(err.code, 'WARDEN_USAGE');
    assert.match(err.message, /credentials/);
    assert.ok(!err.message.includes(SECRET) && !err.message.includes('ops:'), err.message);
    return true;
  });
}

test('checkControlPlaneUrl refuses credentials (password or a user name alone) without echoing them; a clean URL loses its trailing slash', () => {
  refusedWithoutEcho(() => checkControlPlaneUrl(WITH_PASSWORD));
  refusedWithoutEcho(() => checkControlPlaneUrl(WITH_TOKEN_AS_USER));
  assert.throws(() => checkControlPlaneUrl(`ops:${SECRET}@nowhere`), (err: WardenError) => err.code === 'WARDEN_USAGE' && !err.message.includes(SECRET));
  assert.equal(checkControlPlaneUrl('https://cp.internal:7443/'), 'https://cp.internal:7443');
  assert.equal(redactUrl(WITH_TOKEN_AS_USER), 'https://***@127.0.0.1:1/', 'redactUrl hides a user name too (it may be a token)');
});

test('the admin API client, the identity client and the edge gateway refuse such URLs at once', async () => {
  refusedWithoutEcho(() => new AdminClient(WITH_PASSWORD, 'wdt_adm_x', undefined));
  refusedWithoutEcho(() => new IdentityClient(WITH_PASSWORD, { bundlePem: '' }));
  const dir = tempDataDir('warden-cpurl-');
  try {
    const config = loadConfig({ dataDir: dir, cwd: dir, env: {} });
    const started = Date.now();
    await assert.rejects(
      startEdgeGateway({ config, logger: createLogger({ level: 'silent' }), controlPlaneUrl: WITH_PASSWORD, token: 'wdp_x', caPem: '', name: 'gw', serverSecret: randomBytes(32) }),
      (err: WardenError) => err.code === 'WARDEN_USAGE' && !err.message.includes(SECRET),
    );
    assert.ok(Date.now() - started < 5000, 'refused before waiting for a snapshot');
  } finally {
    removeDir(dir);
  }
});

test('CLI: warden gateway --control-plane and warden keys list --server with credentials exit 2 with WARDEN_USAGE and never print them', async () => {
  const dir = tempDataDir('warden-cpurl-cli-');
  try {
    const env = { WARDEN_SERVER_SECRET: randomBytes(32).toString('base64'), WARDEN_ADMIN_TOKEN: 'wdt_adm_0123456789abcdef_x' };
    const gateway = await runCli(['--data-dir', dir, 'gateway', '--control-plane', WITH_PASSWORD, '--token', 'wdp_x', '--ca', '/dev/null', '--port', '0'], { env });
    assert.equal(gateway.code, 2, gateway.stderr);
    assert.match(gateway.stderr, /^WARDEN_USAGE: .*credentials/m);
    assert.ok(!(gateway.stdout + gateway.stderr).includes(SECRET), gateway.stderr);
    const keys = await runCli(['--data-dir', dir, 'keys', 'list', '--server', WITH_PASSWORD], { env });
    assert.equal(keys.code, 2, keys.stderr);
    assert.match(keys.stderr, /^WARDEN_USAGE: .*credentials/m);
    assert.ok(!(keys.stdout + keys.stderr).includes(SECRET), keys.stderr);
  } finally {
    removeDir(dir);
  }
});

// The admin listener's /metrics names every served model and its traffic. Without
// observe.metricsToken it is served anonymously only when the admin listener is on loopback;
// bound to anything else it refuses every scrape (401, as a wrong token) and says so at start.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { startWarden } from '../../src/server/index.js';
import { isLoopbackHost } from '../../src/server/isLoopbackHost.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';

const METRICS_TOKEN = 'admin-listener-metrics-token-0123456789';

test('isLoopbackHost: 127.0.0.0/8, ::1 and localhost only', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['0.0.0.0', '::', '', '10.0.0.5', '192.168.1.2', 'fe80::1', '128.0.0.1', 'cp.example.com', 'localhost.example.com', '127.0.0.1.example.com']) assert.equal(isLoopbackHost(host), false, host);
});

/** `warden server` (control plane only) with the admin listener on `host`; its warnings are collected. */
async function startAdmin(t: TestContext, host: string, env: Record<string, string> = {}) {
  const dataDir = tempDataDir('warden-admin-metrics-');
  const warnings: string[] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        warnings.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  );
  const config = loadConfig({ dataDir, cwd: dataDir, env, overrides: { 'server.host': host, 'server.port': 0 } });
  const warden = await startWarden({ config, logger, demo: false, gateway: false });
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8') } });
  t.after(async () => {
    await agent.close();
    await warden.close();
    removeDir(dataDir);
  });
  // Bound to 0.0.0.0 it is reached here over 127.0.0.1 (what the ready line advertises).
  assert.match(warden.ready.adminUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const scrape = async (authorization?: string, method: 'GET' | 'HEAD' = 'GET') => {
    const r = await request(`${warden.ready.adminUrl}/metrics`, { method, dispatcher: agent, headers: authorization === undefined ? {} : { authorization } });
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
  };
  return { scrape, warnings: () => warnings.filter((l) => /metricsToken/.test(l)) };
}

function assertRefused(r: { status: number; headers: Record<string, unknown>; text: string }, what: string): void {
  assert.equal(r.status, 401, `${what}: ${r.text}`);
  assert.equal(r.headers['www-authenticate'], 'Bearer');
  if (r.text) {
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'WARDEN_OBSERVE_METRICS_UNAUTHORIZED', what);
    assert.doesNotMatch(r.text, /warden_|# TYPE/, `${what}: no series`);
  }
}

test('admin /metrics on a loopback listener without observe.metricsToken: served anonymously, no warning', { timeout: 60_000 }, async (t) => {
  const admin = await startAdmin(t, '127.0.0.1');
  const r = await admin.scrape();
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /# TYPE /);
  assert.deepEqual(admin.warnings(), []);
});

test('admin /metrics on a wildcard listener (0.0.0.0) without observe.metricsToken: every scrape is 401 WARDEN_OBSERVE_METRICS_UNAUTHORIZED, and one warning at start', { timeout: 60_000 }, async (t) => {
  const admin = await startAdmin(t, '0.0.0.0');
  assertRefused(await admin.scrape(), 'anonymous');
  assertRefused(await admin.scrape(undefined, 'HEAD'), 'anonymous HEAD');
  assertRefused(await admin.scrape('Bearer '), 'empty bearer');
  assertRefused(await admin.scrape('Bearer anything'), 'any bearer');
  const warnings = admin.warnings();
  assert.equal(warnings.length, 1, warnings.join('\n'));
  const warning = JSON.parse(warnings[0]!) as { level: number; msg: string; host: string };
  assert.equal(warning.level, 40, 'a warning');
  assert.equal(warning.host, '0.0.0.0');
  assert.match(warning.msg, /set observe\.metricsToken/);
});

test('admin /metrics on a wildcard listener with observe.metricsToken: 200 with the token, 401 without it or with a wrong one; no warning', { timeout: 60_000 }, async (t) => {
  const admin = await startAdmin(t, '0.0.0.0', { WARDEN_OBSERVE_METRICS_TOKEN: METRICS_TOKEN });
  const ok = await admin.scrape(`Bearer ${METRICS_TOKEN}`);
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.text, /# TYPE /);
  assertRefused(await admin.scrape(), 'anonymous');
  assertRefused(await admin.scrape(`Bearer ${METRICS_TOKEN}x`), 'wrong token');
  assertRefused(await admin.scrape(METRICS_TOKEN), 'token without Bearer');
  assert.deepEqual(admin.warnings(), []);
});

test('admin /metrics on a loopback listener with observe.metricsToken: the token is still required', { timeout: 60_000 }, async (t) => {
  const admin = await startAdmin(t, '127.0.0.1', { WARDEN_OBSERVE_METRICS_TOKEN: METRICS_TOKEN });
  assertRefused(await admin.scrape(), 'anonymous');
  assertRefused(await admin.scrape('Bearer wrong'), 'wrong token');
  assert.equal((await admin.scrape(`Bearer ${METRICS_TOKEN}`)).status, 200);
});

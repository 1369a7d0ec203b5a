import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden } from '../../src/server/index.js';
import { removeDir, tempDataDir } from '../helpers/warden.js';

test('every admin action is audited with the same principal, Admin::"<token id>", so one --principal query finds them all', async () => {
  const dataDir = tempDataDir('warden-admin-principal-');
  const config = loadConfig({ dataDir, env: {}, overrides: { 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false, gateway: false });
  try {
    const token = warden.ready.adminToken!;
    const adminId = /^wdt_(adm_[0-9a-f]{16})_/.exec(token)![1]!;
    const expected = `Admin::${JSON.stringify(adminId)}`;
    const call = async (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) => {
      const r = await warden.controlPlane.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, payload });
      assert.ok(r.statusCode < 300, `${method} ${url}: ${r.statusCode} ${r.body}`);
      return r.json();
    };
    const spiffeId = `spiffe://${warden.ca.trustDomain}/ns/a/sa/svc`;
    await call('POST', '/keys', { name: 'team-a', scopes: ['model:iris'] });
    await call('PUT', '/policies', { policies: '@id("all") permit(principal, action, resource);' });
    await call('POST', '/identity/tokens', { spiffeId });
    await call('POST', '/identity/jwt-svids', { spiffeId, audience: 'warden' });
    await call('POST', '/identity/revoke', { spiffeId, reason: 'test' });
    await call('POST', '/keys/team-a/revoke');
    await call('POST', '/audit/checkpoint');

    const actions = ['keys.create', 'policy.publish', 'identity.token.create', 'identity.jwt.issue', 'identity.revoke', 'keys.revoke', 'audit.checkpoint.publish'];
    const all = (await call('GET', '/audit/records?kind=admin')) as { entries: { record: { action: string; principal: string } }[] };
    for (const action of actions) {
      const rec = all.entries.find((e) => e.record.action === action);
      assert.ok(rec, `no ${action} record`);
      assert.equal(rec.record.principal, expected, action);
    }
    const mine = (await call('GET', `/audit/records?principal=${encodeURIComponent(expected)}`)) as { entries: { record: { action: string } }[] };
    assert.deepEqual(new Set(mine.entries.map((e) => e.record.action)), new Set(actions));
  } finally {
    await warden.close();
    removeDir(dataDir);
  }
});

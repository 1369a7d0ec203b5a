import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlaneOnly } from '../helpers/embeddedWarden.js';
import { jsonDeeperThan, MAX_ADMIN_JSON_DEPTH } from '../../src/server/jsonDepth.js';

test('jsonDeeperThan counts containers outside strings only', () => {
  assert.equal(jsonDeeperThan('[[1]]', 2), false);
  assert.equal(jsonDeeperThan('[[[1]]]', 2), true);
  assert.equal(jsonDeeperThan('{"a":"[[[[\\"[[["}', 1), false);
  assert.equal(jsonDeeperThan('[{}, {}, [], []]', 2), false);
});

test('admin API input limits: a malformed svids limit and an absurdly nested body are 400s, not 500s', async (t) => {
  const cp = await startControlPlaneOnly(t, 'warden-admin-limits-');
  for (const limit of ['abc', '1.5', '0', '-1', '10001', '1e3', '']) {
    const r = await cp.call(cp.adminToken, 'GET', `/identity/svids?limit=${encodeURIComponent(limit)}`);
    assert.equal(r.status, 400, `limit=${limit}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error?.code, 'WARDEN_INPUT_INVALID');
  }
  assert.equal((await cp.call(cp.adminToken, 'GET', '/identity/svids?limit=10000')).status, 200);
  assert.equal((await cp.call(cp.adminToken, 'GET', '/identity/svids?limit=1')).status, 200);

  const nested = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const explain = (context: string) => cp.call(cp.adminToken, 'POST', '/policies/explain', `{"principal":{"type":"User","id":"alice"},"action":{"type":"Action","id":"invoke"},"resource":{"type":"Model","id":"iris"},"context":${context}}`);
  const deep = await explain(nested(100_000));
  assert.equal(deep.status, 400, JSON.stringify(deep.json).slice(0, 300));
  assert.equal(deep.json.error?.code, 'WARDEN_INPUT_INVALID');
  // Within the limit (the body itself is one level) the request is explained as before.
  assert.equal((await explain(nested(MAX_ADMIN_JSON_DEPTH - 1))).status, 200);
});

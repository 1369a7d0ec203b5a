// One API key's model scope must never stop the PEP snapshot from being rebuilt: before, a key
// scoped to a model name the generated permit id could not hold (105 characters, `qwen2.5+tools`)
// was saved, answered 503 WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED, and from then on every admin
// change failed the same way: a revoked key kept working at the gateway until every gateway
// request failed closed with WARDEN_GATEWAY_SNAPSHOT_STALE.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyRepository } from '../../src/policy/index.js';
import { startEmbeddedWarden, type EmbeddedWarden } from '../helpers/embeddedWarden.js';

type Started = EmbeddedWarden;

const start = (t: TestContext): Promise<Started> => startEmbeddedWarden(t, 'warden-key-scope-snapshot-');
const createKey = (s: Started, name: string, scopes: string[]): Promise<{ id: string; key: string }> => s.createKey(name, scopes);

/** Authorized: whatever the gateway answers next (the demo serves only echo and iris), not the policy's 403. */
function authorized(r: { status: number; code: string | undefined }, what: string): void {
  assert.notEqual(r.code, 'WARDEN_AUTHZ_DENIED', what);
  assert.ok(r.status !== 403 && r.status !== 401 && r.status !== 503, `${what}: ${r.status} ${r.code}`);
}

test('keys scoped to any model name a request may use are created and granted; a revocation made afterwards reaches the gateway at once', { timeout: 120_000 }, async (t) => {
  const s = await start(t);
  const names = ['m'.repeat(105), 'm'.repeat(128), 'qwen2.5+tools', 'Ä-model', 'a b', 'ft:gpt-4o-mini:org::abc', 'any-model'];
  for (const [i, model] of names.entries()) {
    const { key } = await createKey(s, `scoped-${i}`, [`model:${model}`]);
    authorized(await s.invoke(key, model), model);
    const other = await s.invoke(key, 'echo');
    assert.equal(other.status, 403, `${model}: the key grants that model only`);
  }

  const victim = await createKey(s, 'victim', ['model:echo']);
  assert.equal((await s.invoke(victim.key, 'echo')).status, 200);
  const revoked = await s.admin('POST', '/keys/victim/revoke');
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  // Answered once the control plane's own snapshot, the one its gateway enforces, includes it.
  assert.deepEqual(await s.invoke(victim.key, 'echo'), { status: 401, code: 'WARDEN_AUTHN_KEY_REVOKED' });
});

test('a model name no request can use is refused at creation (400 WARDEN_INPUT_INVALID naming the field) and nothing is saved', { timeout: 120_000 }, async (t) => {
  const s = await start(t);
  for (const [i, model] of ['m'.repeat(129), '😀'.repeat(65), 'iris\u200b', '\ud800x', ''].entries()) {
    const r = await s.admin('POST', '/keys', { name: `bad-${i}`, scopes: ['model:echo', `model:${model}`] });
    assert.equal(r.status, 400, `${JSON.stringify(model)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error?.code, 'WARDEN_INPUT_INVALID');
    assert.match(r.json.error!.message, /^scopes\.1: a scope is model:\* or model:<name>/);
  }
  const listed = (await s.admin('GET', '/keys')).json.keys as { name: string }[];
  assert.deepEqual(listed.filter((k) => k.name.startsWith('bad-')), [], 'no half-written key');
});

test('a key stored before today\'s rules with a scope no permit can express grants nothing from it; snapshots keep being built and a later revocation reaches the gateway', { timeout: 120_000 }, async (t) => {
  const s = await start(t);
  const legacy = await createKey(s, 'legacy', ['model:echo']);
  const victim = await createKey(s, 'victim', ['model:echo']);
  assert.equal((await s.invoke(legacy.key, 'echo')).status, 200);
  // Written to the store directly (an older version counted code points, not UTF-16 units, and
  // scopes may come from a restored backup): 100 emoji are 200 UTF-16 code units.
  const stored = ['model:echo', `model:${'😀'.repeat(100)}`, 'model:iris\u200b'];
  await s.warden.controlPlane.ctx.db.query('UPDATE api_keys SET scopes = $1 WHERE id = $2', [JSON.stringify(stored), legacy.id]);
  // A key id no policy id can hold (130 characters, as an imported store might have): even a
  // valid scope cannot be expressed for it.
  const imported = await createKey(s, 'imported', ['model:echo']);
  const importedId = `key_${'x'.repeat(126)}`;
  await s.warden.controlPlane.ctx.db.query('UPDATE api_keys SET id = $1 WHERE id = $2', [importedId, imported.id]);

  const revoked = await s.admin('POST', '/keys/victim/revoke');
  assert.equal(revoked.status, 200, `the rebuild is not stopped by the legacy key: ${JSON.stringify(revoked.json)}`);
  assert.deepEqual(await s.invoke(victim.key, 'echo'), { status: 401, code: 'WARDEN_AUTHN_KEY_REVOKED' });
  assert.equal((await s.invoke(legacy.key, 'echo')).status, 200, 'the legacy key keeps the scope that can be expressed');
  assert.equal((await s.invoke(legacy.key, '😀'.repeat(64))).status, 403, 'and is denied the one that cannot');
  assert.equal((await s.invoke(imported.key, 'echo')).status, 403, 'the imported key is denied by default');

  // Logged once with the key id, however many rebuilds meet it; never a key secret.
  await s.admin('POST', '/keys', { name: 'another', scopes: ['model:iris'] });
  const warnings = s.logs.filter((l) => l.includes('cannot be expressed'));
  assert.deepEqual(warnings.map((w) => (JSON.parse(w) as { keyId: string }).keyId).sort(), [legacy.id, importedId].sort(), warnings.join(''));
  for (const secret of [legacy.key, victim.key, imported.key]) assert.ok(!s.logs.join('').includes(secret), 'no key secret in the logs');
});

test('a policy using a key\'s generated permit id is refused at publish (400 WARDEN_POLICY_ID_RESERVED, nothing published); one stored before that rule does not stop snapshots: the generated permit is left out', { timeout: 120_000 }, async (t) => {
  const s = await start(t);
  const copied = await createKey(s, 'copied', ['model:echo']);
  const victim = await createKey(s, 'victim', ['model:echo']);
  assert.equal((await s.invoke(copied.key, 'echo')).status, 200);
  // Say an operator pasted a generated id into the published set for another grant.
  const current = (await s.admin('GET', '/policies')).json as { policies: string; version: number };
  const clashing = `${current.policies}\n@id("key-scope:${copied.id}:echo")\npermit(principal == ApiKey::"copied", action == Action::"invoke", resource in Model::"iris");`;
  for (const path of ['/policies', '/policies/check']) {
    const refused = await s.admin(path === '/policies' ? 'PUT' : 'POST', path, { policies: clashing });
    assert.equal(refused.status, 400, `${path}: ${JSON.stringify(refused.json)}`);
    assert.equal(refused.json.error?.code, 'WARDEN_POLICY_ID_RESERVED');
    assert.match(refused.json.error!.message, /key-scope:/);
  }
  assert.equal(((await s.admin('GET', '/policies')).json as { version: number }).version, current.version, 'nothing published');
  assert.equal((await s.invoke(copied.key, 'echo')).status, 200, 'the key keeps its grant');

  // The same set stored by an older version (or restored from a backup), straight into the store.
  await new PolicyRepository(s.warden.controlPlane.ctx.db).publish({ policies: clashing, schema: null, entities: [] }, 'legacy');
  assert.equal((await s.admin('POST', '/keys/victim/revoke')).status, 200, 'the rebuild is not stopped by the clash');
  assert.deepEqual(await s.invoke(victim.key, 'echo'), { status: 401, code: 'WARDEN_AUTHN_KEY_REVOKED' });
  assert.equal((await s.invoke(copied.key, 'echo')).status, 403, 'the generated permit is left out');
});

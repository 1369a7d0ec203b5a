import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { openStore, migrate } from '../../src/store/index.js';
import { PolicyBundleHolder, PolicyRepository, loadOrCreateBundleKey, signBundle, verifyBundle, bundleKeyPath } from '../../src/policy/index.js';
import { WardenError } from '../../src/errors/index.js';

const req = { principal: { type: 'ApiKey', id: 'demo' }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'Model', id: 'iris' }, context: {} };
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return err instanceof WardenError ? err.code : `not a WardenError: ${String(err)}`;
  }
  return 'no error';
};

test('bundle key is created once, 0600, and reused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  try {
    const a = loadOrCreateBundleKey(dir);
    assert.equal(statSync(bundleKeyPath(dir)).mode & 0o777, 0o600);
    const b = loadOrCreateBundleKey(dir);
    assert.equal(a.keyId, b.keyId);
    assert.match(readFileSync(bundleKeyPath(dir), 'utf8'), /BEGIN PRIVATE KEY/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signed bundles verify; tampering, wrong keys and replays are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  try {
    const key = loadOrCreateBundleKey(dir);
    const bundle = signBundle({ version: 3, policies: 'permit(principal, action, resource);' }, key);
    assert.equal(verifyBundle(bundle, key.publicKeyPem).version, 3);
    assert.equal(codeOf(() => verifyBundle({ ...bundle, policies: 'permit(principal, action, resource); ' }, key.publicKey)), 'WARDEN_POLICY_BUNDLE_SIGNATURE_INVALID');
    assert.equal(codeOf(() => verifyBundle({ ...bundle, version: 4 }, key.publicKey)), 'WARDEN_POLICY_BUNDLE_SIGNATURE_INVALID');
    assert.equal(codeOf(() => verifyBundle({ ...bundle, entities: [{ uid: { type: 'Group', id: 'x' } }] }, key.publicKey)), 'WARDEN_POLICY_BUNDLE_SIGNATURE_INVALID');
    const other = generateKeyPairSync('ed25519').publicKey;
    assert.equal(codeOf(() => verifyBundle(bundle, other)), 'WARDEN_POLICY_BUNDLE_SIGNATURE_INVALID');
    assert.equal(codeOf(() => verifyBundle(bundle, key.publicKey, { installedVersion: 3 })), 'WARDEN_POLICY_BUNDLE_STALE');
    assert.equal(codeOf(() => verifyBundle({ version: 'x' }, key.publicKey)), 'WARDEN_POLICY_BUNDLE_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a PEP fails closed until a bundle arrives, swaps atomically, and keeps its policy on a bad bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  try {
    const key = loadOrCreateBundleKey(dir);
    const pep = new PolicyBundleHolder(key.publicKey, { cacheSize: 100 });
    assert.equal(pep.bundleVersion, null);
    assert.equal(pep.authorize(req).decision, 'deny');
    pep.install(signBundle({ version: 1, policies: '@id("demo") permit(principal == ApiKey::"demo", action, resource);' }, key));
    assert.equal(pep.bundleVersion, 1);
    assert.deepEqual(pep.authorize(req).determining, ['demo']);
    // A bundle that does not compile is refused and version 1 stays in force.
    assert.equal(codeOf(() => pep.install(signBundle({ version: 2, policies: 'permit(' }, key))), 'WARDEN_POLICY_PARSE_FAILED');
    assert.equal(pep.bundleVersion, 1);
    assert.equal(pep.authorize(req).decision, 'allow');
    // The next good bundle takes effect at once (the decision cache is cleared).
    pep.install(signBundle({ version: 3, policies: '@id("stop") forbid(principal, action, resource);' }, key));
    assert.deepEqual(pep.authorize(req), { decision: 'deny', determining: ['stop'], errors: [] });
    assert.equal(codeOf(() => pep.install(signBundle({ version: 1, policies: 'permit(principal, action, resource);' }, key))), 'WARDEN_POLICY_BUNDLE_STALE');
    assert.equal(pep.version, '3');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy repository: versions grow, rollback republishes old content as a new version', async () => {
  const db = await openStore({});
  try {
    await migrate(db);
    const repo = new PolicyRepository(db);
    assert.equal(await repo.current(), null);
    const v1 = await repo.publish({ policies: 'permit(principal, action, resource);', entities: [{ uid: { type: 'Group', id: 'g' }, attrs: {}, parents: [] }] }, 'adm_1');
    const v2 = await repo.publish('forbid(principal, action, resource);', 'adm_2');
    assert.deepEqual([v1, v2], [1, 2]);
    assert.equal((await repo.current())!.policies, 'forbid(principal, action, resource);');
    const v3 = await repo.rollback(1, 'adm_3');
    assert.equal(v3, 3);
    const cur = (await repo.current())!;
    assert.equal(cur.version, 3);
    assert.equal(cur.policies, 'permit(principal, action, resource);');
    assert.deepEqual(cur.entities, [{ uid: { type: 'Group', id: 'g' }, attrs: {}, parents: [] }]);
    assert.equal(cur.rolledBackFrom, 1);
    assert.equal(cur.digest, (await repo.get(1)).digest);
    assert.deepEqual((await repo.list()).map((v) => [v.version, v.author]), [[3, 'adm_3'], [2, 'adm_2'], [1, 'adm_1']]);
    await assert.rejects(repo.get(9), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_POLICY_VERSION_NOT_FOUND');
    await assert.rejects(repo.rollback(0, 'x'), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_INPUT_INVALID');
  } finally {
    await db.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKeyScope, keyScopePolicyId, scopePermitsUnderSchema } from '../../src/server/keyScopePolicies.js';
import { readFileSync } from 'node:fs';
import { compilePolicySet, buildRequestContext, parsePolicySet, type EntityRef } from '../../src/policy/index.js';
import type { ApiKeyVerifier } from '../../src/store/index.js';

/** Every permit the keys stand for (no published schema to leave any out). */
const allPermits = (keys: ApiKeyVerifier[]): string => scopePermitsUnderSchema(keys, null).text;
const key = (id: string, principal: string, scopes: string[]): ApiKeyVerifier => ({ id, principal, scopes, revokedAt: null, expiresAt: null }) as unknown as ApiKeyVerifier;

test('a stored key whose principal is not a Cedar entity gets no permit; the other keys still do (the snapshot is not broken)', () => {
  const text = allPermits([key('key_bad1', 'User::"a\\qb"', ['model:echo']), key('key_bad2', 'User::"a\\tb"', ['model:echo']), key('key_good', 'User::"alice"', ['model:echo'])]);
  assert.doesNotMatch(text, /key_bad/);
  assert.match(text, /@id\("key-scope:key_good:echo"\)\npermit\(principal == User::"alice"/);
});

test('key scopes cover every version of a model: model:M allows Model::"M" and ModelVersion::"M@V", model:* any model and version, nothing else', () => {
  const set = compilePolicySet(allPermits([key('key_one', 'ApiKey::"one"', ['model:iris']), key('key_all', 'ApiKey::"all"', ['model:*'])]));
  const context = buildRequestContext({ region: 'local', classification: 'internal', mfa: false, sourceIp: '127.0.0.1' });
  const decide = (principal: string, resource: EntityRef, resourceParents?: EntityRef[]) =>
    set.authorize({ principal: { type: 'ApiKey', id: principal }, action: { type: 'Action', id: 'invoke' }, resource, resourceParents, context }).decision;
  const version = (model: string): [EntityRef, EntityRef[]] => [{ type: 'ModelVersion', id: `${model}@1` }, [{ type: 'Model', id: model }]];
  assert.equal(decide('one', { type: 'Model', id: 'iris' }), 'allow');
  assert.equal(decide('one', ...version('iris')), 'allow');
  assert.equal(decide('one', { type: 'Model', id: 'echo' }), 'deny');
  assert.equal(decide('one', ...version('echo')), 'deny');
  assert.equal(decide('all', { type: 'Model', id: 'echo' }), 'allow');
  assert.equal(decide('all', ...version('echo')), 'allow');
  assert.equal(decide('all', { type: 'Dataset', id: 'd' }), 'deny');
});

test('under a published schema, permits it refuses are left out (a stored key it does not know grants nothing); the others stay and the set compiles', () => {
  const schema = readFileSync('examples/policies/schema.cedarschema', 'utf8');
  const keys = [key('key_good', 'ApiKey::"good"', ['model:iris']), key('key_team', 'Team::"x"', ['model:iris'])];
  const scopes = scopePermitsUnderSchema(keys, schema);
  assert.deepEqual([...scopes.grantingNothing.keys()], ['key_team']);
  assert.match(scopes.text, /key-scope:key_good:iris/);
  assert.doesNotMatch(scopes.text, /key_team/);
  assert.doesNotThrow(() => compilePolicySet(scopes.text, { schemaText: schema }));
  assert.throws(() => compilePolicySet(allPermits(keys), { schemaText: schema }), { code: 'WARDEN_POLICY_VALIDATION_FAILED' }, 'what used to stop every snapshot build');
  // A schema without ModelVersion: model:* keeps its Model permit and still grants every model.
  const modelsOnly = schema.replace(/entity ModelVersion[^;]*;/, '').replace(/,\s*ModelVersion/g, '').replace(/ModelVersion,\s*/g, '');
  const star = scopePermitsUnderSchema([key('key_all', 'ApiKey::"all"', ['model:*'])], modelsOnly);
  assert.equal(star.grantingNothing.size, 0);
  assert.match(star.text, /key-scope:key_all:any-model"/);
  assert.doesNotMatch(star.text, /any-model-version/);
});

/** Names requests may send as their model (1-128 UTF-16 code units) that are not policy-id characters, or are long. */
const REQUEST_MODEL_NAMES = ['qwen2.5+tools', 'Ä-model', 'a b', 'ft:gpt-4o-mini:org::abc', 'model:iris', 'any-model', 'say "hi" \\ bye', 'm'.repeat(105), 'm'.repeat(128), '😀'.repeat(64)];

test('every model name a request may use gets a valid, stable, distinct permit id that grants that model and no other', () => {
  const decide = (set: ReturnType<typeof compilePolicySet>, model: string) =>
    set.authorize({ principal: { type: 'ApiKey', id: 'k' }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'Model', id: model }, context: buildRequestContext({ region: 'local', classification: 'internal', mfa: false, sourceIp: '127.0.0.1' }) }).decision;
  const ids = new Set<string>();
  for (const model of REQUEST_MODEL_NAMES) {
    assert.ok(isKeyScope(`model:${model}`), `model:${model} is a key scope`);
    const k = key('key_26d737ff929e10e0', 'ApiKey::"k"', [`model:${model}`]);
    const scopes = scopePermitsUnderSchema([k], null);
    assert.equal(scopes.unexpressible.size, 0, `${model}: ${[...scopes.unexpressible.values()].join()}`);
    const set = compilePolicySet(scopes.text);
    assert.equal(decide(set, model), 'allow', model);
    assert.equal(decide(set, `${model}x`), 'deny', model);
    const id = keyScopePolicyId(k.id, model);
    assert.ok(id.length <= 128 && /^[A-Za-z0-9_.:@/-]+$/.test(id), id);
    assert.equal(keyScopePolicyId(k.id, model), id, 'stable');
    ids.add(id);
  }
  assert.equal(ids.size, REQUEST_MODEL_NAMES.length, 'distinct');
  // Names that always made valid ids keep them (audit records stay comparable across versions).
  assert.equal(keyScopePolicyId('key_26d737ff929e10e0', 'iris'), 'key-scope:key_26d737ff929e10e0:iris');
  assert.equal(keyScopePolicyId('key_26d737ff929e10e0', 'org/llama-3.1_8b@q4'), 'key-scope:key_26d737ff929e10e0:org/llama-3.1_8b@q4');
  // The name `any-model` does not take the id of model:*, so a key may hold both.
  const both = scopePermitsUnderSchema([key('key_both', 'ApiKey::"k"', ['model:*', 'model:any-model', 'model:iris', 'model:iris'])], null);
  assert.equal(both.unexpressible.size, 0);
  assert.equal(parsePolicySet(both.text).length, 4, 'two for model:*, one each for any-model and iris (listed twice)');
});

test('names no request can use are no key scope: too long (UTF-16 code units, as the gateway counts), invisible, half a character', () => {
  for (const bad of ['m'.repeat(129), '😀'.repeat(65), '', 'a\u200bb', 'a\nb', '\ud800x', 'x\u202e'] as const) {
    assert.equal(isKeyScope(`model:${bad}`), false, JSON.stringify(bad));
  }
  assert.equal(isKeyScope('model:*'), true);
  assert.equal(isKeyScope('iris'), false, 'the model: prefix is part of a scope');
});

test('a stored key whose permit cannot be expressed gets no permit from it and is reported; every other key keeps its permits and the set compiles', () => {
  const keys = [
    key('key_good', 'ApiKey::"good"', ['model:iris']),
    // Stored before today's rules (or written to the store directly): a key id too long for a policy id…
    key(`key_${'x'.repeat(130)}`, 'ApiKey::"long"', ['model:iris']),
    // …a key id Cedar text cannot hold, a scope with an invisible character next to a good one…
    key('key_\u200bhidden', 'ApiKey::"hidden"', ['model:iris']),
    key('key_mixed', 'ApiKey::"mixed"', ['model:a\u200bb', 'model:echo']),
    // …and a key id whose permit id a published policy already uses.
    key('key_taken', 'ApiKey::"taken"', ['model:iris']),
    key('key_principal', 'User::"a\\qb"', ['model:iris']),
  ];
  const scopes = scopePermitsUnderSchema(keys, null, Date.now(), new Set(['key-scope:key_taken:iris']));
  assert.deepEqual([...scopes.unexpressible.keys()].sort(), [`key_${'x'.repeat(130)}`, 'key_\u200bhidden', 'key_mixed', 'key_principal', 'key_taken'].sort());
  assert.match(scopes.unexpressible.get('key_taken')!, /already used/);
  const ids = parsePolicySet(scopes.text).map((p) => p.id);
  assert.deepEqual(ids, ['key-scope:key_good:iris', 'key-scope:key_mixed:echo'], 'the invisible scope grants nothing, the mixed key keeps echo');
  assert.doesNotThrow(() => compilePolicySet(`@id("key-scope:key_taken:iris") forbid(principal, action, resource);\n${scopes.text}`));
});

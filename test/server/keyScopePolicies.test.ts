import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyScopePolicies, scopePermitsUnderSchema } from '../../src/server/keyScopePolicies.js';
import { readFileSync } from 'node:fs';
import { compilePolicySet, buildRequestContext, type EntityRef } from '../../src/policy/index.js';
import type { ApiKeyVerifier } from '../../src/store/index.js';

const key = (id: string, principal: string, scopes: string[]): ApiKeyVerifier => ({ id, principal, scopes, revokedAt: null, expiresAt: null }) as unknown as ApiKeyVerifier;

test('a stored key whose principal is not a Cedar entity gets no permit; the other keys still do (the snapshot is not broken)', () => {
  const text = keyScopePolicies([key('key_bad1', 'User::"a\\qb"', ['model:echo']), key('key_bad2', 'User::"a\\tb"', ['model:echo']), key('key_good', 'User::"alice"', ['model:echo'])]);
  assert.doesNotMatch(text, /key_bad/);
  assert.match(text, /@id\("key-scope:key_good:echo"\)\npermit\(principal == User::"alice"/);
});

test('key scopes cover every version of a model: model:M allows Model::"M" and ModelVersion::"M@V", model:* any model and version, nothing else', () => {
  const set = compilePolicySet(keyScopePolicies([key('key_one', 'ApiKey::"one"', ['model:iris']), key('key_all', 'ApiKey::"all"', ['model:*'])]));
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
  assert.throws(() => compilePolicySet(keyScopePolicies(keys), { schemaText: schema }), { code: 'WARDEN_POLICY_VALIDATION_FAILED' }, 'what used to stop every snapshot build');
  assert.equal(scopePermitsUnderSchema(keys, null).text, keyScopePolicies(keys), 'no schema: every permit');
  // A schema without ModelVersion: model:* keeps its Model permit and still grants every model.
  const modelsOnly = schema.replace(/entity ModelVersion[^;]*;/, '').replace(/,\s*ModelVersion/g, '').replace(/ModelVersion,\s*/g, '');
  const star = scopePermitsUnderSchema([key('key_all', 'ApiKey::"all"', ['model:*'])], modelsOnly);
  assert.equal(star.grantingNothing.size, 0);
  assert.match(star.text, /key-scope:key_all:any-model"/);
  assert.doesNotMatch(star.text, /any-model-version/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyScopePolicies, grantingKeys } from '../../src/server/keyScopePolicies.js';
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

test('a stored key the published schema refuses grants nothing; the others keep their permits and the set compiles', () => {
  const schema = readFileSync('examples/policies/schema.cedarschema', 'utf8');
  const warnings: unknown[] = [];
  const keys = [key('key_good', 'ApiKey::"good"', ['model:iris']), key('key_team', 'Team::"x"', ['model:iris'])];
  const granting = grantingKeys(keys, schema, { warn: (o: unknown) => warnings.push(o) });
  assert.deepEqual(granting.map((k) => k.id), ['key_good']);
  assert.equal(warnings.length, 1);
  assert.doesNotThrow(() => compilePolicySet(keyScopePolicies(granting), { schemaText: schema }));
  assert.throws(() => compilePolicySet(keyScopePolicies(keys), { schemaText: schema }), { code: 'WARDEN_POLICY_VALIDATION_FAILED' }, 'what used to stop every snapshot build');
  assert.equal(grantingKeys(keys, null, { warn: () => undefined }), keys, 'no schema: every key');
});

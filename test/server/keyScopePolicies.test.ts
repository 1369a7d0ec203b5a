import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyScopePolicies } from '../../src/server/keyScopePolicies.js';
import type { ApiKeyVerifier } from '../../src/store/index.js';

const key = (id: string, principal: string, scopes: string[]): ApiKeyVerifier => ({ id, principal, scopes, revokedAt: null, expiresAt: null }) as unknown as ApiKeyVerifier;

test('a stored key whose principal is not a Cedar entity gets no permit; the other keys still do (the snapshot is not broken)', () => {
  const text = keyScopePolicies([key('key_bad1', 'User::"a\\qb"', ['model:echo']), key('key_bad2', 'User::"a\\tb"', ['model:echo']), key('key_good', 'User::"alice"', ['model:echo'])]);
  assert.doesNotMatch(text, /key_bad/);
  assert.match(text, /@id\("key-scope:key_good:echo"\)\npermit\(principal == User::"alice"/);
});

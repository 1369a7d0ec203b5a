import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { authenticateApiKey } from '../../src/gateway/stages/authenticate.js';
import type { RequestContext } from '../../src/gateway/RequestContext.js';
import type { PepSnapshot } from '../../src/gateway/PepSnapshot.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';

const secret = randomBytes(32);
const key = `wdn_abcdefghijkl_${'A'.repeat(43)}`;
const sameRecordWrongSecret = `wdn_abcdefghijkl_${'B'.repeat(43)}`;

function ctxFor(snapshot: PepSnapshot): RequestContext {
  return { snapshot, principal: null } as unknown as RequestContext;
}

function code(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? 'thrown';
  }
}

test('API keys: a verified key keeps verifying, another secret on the same record never does', () => {
  const snapshot = permitAllSnapshots(secret, key).current()!;
  for (let i = 0; i < 3; i++) {
    const ctx = ctxFor(snapshot);
    authenticateApiKey(ctx, key, secret);
    assert.deepEqual(ctx.principal, { entity: { type: 'ApiKey', id: 'test' }, id: 'key_test', method: 'api-key', parents: [], keyPrefix: 'abcdefghijkl' });
  }
  // After the key was remembered, a different secret with the same prefix is still checked by HMAC.
  assert.equal(code(() => authenticateApiKey(ctxFor(snapshot), sameRecordWrongSecret, secret)), 'WARDEN_AUTHN_KEY_INVALID');
  assert.equal(code(() => authenticateApiKey(ctxFor(snapshot), 'wdn_zzzzzzzzzzzz_' + 'A'.repeat(43), secret)), 'WARDEN_AUTHN_KEY_INVALID');
});

test('API keys: a new snapshot (revocation) is checked afresh, and the remembered principal cannot be modified', () => {
  const first = permitAllSnapshots(secret, key).current()!;
  const ctx = ctxFor(first);
  authenticateApiKey(ctx, key, secret);
  assert.throws(() => {
    (ctx.principal!.entity as { id: string }).id = 'admin';
  }, TypeError);
  const record = first.apiKeys.get('abcdefghijkl')!;
  const revoked: PepSnapshot = { ...first, apiKeys: new Map([['abcdefghijkl', { ...record, revokedAt: new Date(Date.now() - 1000) }]]) };
  assert.equal(code(() => authenticateApiKey(ctxFor(revoked), key, secret)), 'WARDEN_AUTHN_KEY_REVOKED');
  // Stamped by a control plane whose clock is ahead of this gateway's: revoked all the same.
  const revokedAhead: PepSnapshot = { ...first, apiKeys: new Map([['abcdefghijkl', { ...record, revokedAt: new Date(Date.now() + 120_000) }]]) };
  assert.equal(code(() => authenticateApiKey(ctxFor(revokedAhead), key, secret)), 'WARDEN_AUTHN_KEY_REVOKED');
  const rotatedSecret = randomBytes(32);
  const rotated = permitAllSnapshots(rotatedSecret, key).current()!;
  assert.equal(code(() => authenticateApiKey(ctxFor(rotated), key, secret)), 'WARDEN_AUTHN_KEY_INVALID', 'a new record is verified by HMAC again');
});

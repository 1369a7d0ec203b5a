import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CachingAuthorizer, compilePolicySet, FailClosedAuthorizer, type AuthzRequest } from '../../src/policy/index.js';
import { WardenError } from '../../src/errors/index.js';

const req = (over: Partial<AuthzRequest> = {}): AuthzRequest => ({
  principal: { type: 'User', id: 'alice' },
  action: { type: 'Action', id: 'invoke' },
  resource: { type: 'Model', id: 'm' },
  context: {},
  ...over,
});
const REFUSED = (d: { decision: string; errors: { policyId: string }[] }) => d.decision === 'deny' && d.errors.some((e) => e.policyId === '(request)');

test('input Cedar refuses is refused: __expr, invalid entity type names, unpaired surrogates', () => {
  const entitiesInvalid = (entities: unknown[]) =>
    assert.throws(() => compilePolicySet('permit(principal, action, resource);', { entities: entities as never }), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_POLICY_ENTITIES_INVALID');
  entitiesInvalid([{ uid: { type: 'User', id: 'a' }, attrs: { x: { __expr: 'true' } }, parents: [] }]);
  entitiesInvalid([{ uid: { type: 'if', id: 'a' }, attrs: {}, parents: [] }]);
  entitiesInvalid([{ uid: { type: 'Bad Type', id: 'a' }, attrs: {}, parents: [] }]);
  entitiesInvalid([{ uid: { type: 'User', id: '\ud800' }, attrs: {}, parents: [] }]);
  entitiesInvalid([{ uid: { type: 'User', id: 'a' }, attrs: { name: 'x\udc00' }, parents: [] }]);

  const set = compilePolicySet('permit(principal, action, resource);');
  assert.equal(set.authorize(req()).decision, 'allow');
  assert.ok(REFUSED(set.authorize(req({ context: { x: { __expr: 'true' } } }))));
  assert.ok(REFUSED(set.authorize(req({ context: { __expr: 'true' } }))));
  assert.ok(REFUSED(set.authorize(req({ context: { name: 'a\ud800' } }))));
  assert.ok(REFUSED(set.authorize(req({ context: { e: { __entity: { type: 'then', id: 'x' } } } }))));
  assert.ok(REFUSED(set.authorize(req({ principal: { type: 'User', id: '\ud800' } }))));
  assert.ok(REFUSED(set.authorize(req({ resource: { type: 'Not a type', id: 'm' } }))));
  // Proper text outside the BMP is fine.
  assert.equal(set.authorize(req({ principal: { type: 'User', id: '\ud83d\ude00' }, context: { s: '\ud83d\ude00' } })).decision, 'allow');
});

test('a request cedar-wasm throws on is denied (fail closed), not an exception', () => {
  // datetime() sends every request to cedar-wasm, which throws on an unpaired surrogate.
  const set = compilePolicySet('permit(principal, action, resource) when { datetime("2024-01-01") < datetime("2025-01-01") };');
  assert.equal(set.fallback, true);
  const authz = new CachingAuthorizer(new FailClosedAuthorizer(set));
  assert.equal(authz.authorize(req()).decision, 'allow');
  const d = authz.authorize(req({ principal: { type: 'User', id: '\ud800' } }));
  assert.ok(REFUSED(d), JSON.stringify(d));
  assert.ok(REFUSED(set.authorizeWithReference(req({ principal: { type: 'User', id: '\ud800' } }))));
});

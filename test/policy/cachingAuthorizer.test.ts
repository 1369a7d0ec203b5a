import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CachingAuthorizer, compilePolicySet, type AuthzRequest } from '../../src/policy/index.js';

const r = (model: string, region = 'eu'): AuthzRequest => ({
  principal: { type: 'ApiKey', id: 'demo' },
  action: { type: 'Action', id: 'invoke' },
  resource: { type: 'Model', id: model },
  context: { region },
});

test('caches decisions per full request and keeps them immutable', () => {
  const set = compilePolicySet('@id("eu") permit(principal, action, resource == Model::"iris") when { context.region == "eu" };');
  const c = new CachingAuthorizer(set, { maxEntries: 10 });
  const a = c.authorize(r('iris'));
  assert.equal(a.decision, 'allow');
  assert.equal(c.authorize(r('iris')), a);
  assert.deepEqual(c.stats, { hits: 1, misses: 1, evictions: 0 });
  // A different context is a different key.
  assert.equal(c.authorize(r('iris', 'us')).decision, 'deny');
  assert.throws(() => (a.determining as string[]).push('x'));
  assert.equal(c.version, set.version);
});

test('swap installs a new policy set and drops cached decisions at once', () => {
  const c = new CachingAuthorizer(compilePolicySet('permit(principal, action, resource);'));
  assert.equal(c.authorize(r('iris')).decision, 'allow');
  const next = compilePolicySet('forbid(principal, action, resource);');
  c.swap(next);
  assert.equal(c.size, 0);
  assert.equal(c.authorize(r('iris')).decision, 'deny');
  assert.equal(c.version, next.version);
});

test('the cache is bounded (least recently used evicted)', () => {
  const c = new CachingAuthorizer(compilePolicySet('permit(principal, action, resource);'), { maxEntries: 3 });
  for (const m of ['a', 'b', 'c']) c.authorize(r(m));
  c.authorize(r('a')); // a is now most recent
  c.authorize(r('d')); // evicts b
  assert.equal(c.size, 3);
  assert.equal(c.stats.evictions, 1);
  const misses = c.stats.misses;
  c.authorize(r('a'));
  assert.equal(c.stats.misses, misses);
  c.authorize(r('b'));
  assert.equal(c.stats.misses, misses + 1);
});

test('least recently used order holds when hits repeat the newest entry (which stays in place)', () => {
  const c = new CachingAuthorizer(compilePolicySet('permit(principal, action, resource);'), { maxEntries: 3 });
  const missed = (m: string): boolean => {
    const before = c.stats.misses;
    c.authorize(r(m));
    return c.stats.misses > before;
  };
  for (const m of ['a', 'b', 'c']) c.authorize(r(m));
  c.authorize(r('c')); // c is newest already: order a, b, c
  c.authorize(r('a')); // order b, c, a
  c.authorize(r('d')); // evicts b: order c, a, d
  c.authorize(r('a')); // a was newest before d arrived: order c, d, a
  c.authorize(r('e')); // evicts c: order d, a, e
  c.authorize(r('f')); // evicts d: order a, e, f
  assert.equal(missed('a'), false);
  assert.equal(missed('d'), true);
  // A hit on the entry that was newest before another hit moved one behind it moves it again.
  c.swap(compilePolicySet('permit(principal, action, resource);'));
  for (const m of ['x', 'y', 'z']) c.authorize(r(m));
  c.authorize(r('x')); // order y, z, x
  c.authorize(r('z')); // order y, x, z
  c.authorize(r('w')); // evicts y: order x, z, w
  c.authorize(r('v')); // evicts x: order z, w, v
  assert.equal(missed('z'), false);
  assert.equal(missed('x'), true);
});

test('metrics report the fallback and decisions per evaluator at scrape time', async () => {
  const { Registry } = await import('prom-client');
  const { registerPolicyMetrics } = await import('../../src/policy/index.js');
  const registry = new Registry();
  let active = compilePolicySet('permit(principal, action, resource);');
  registerPolicyMetrics(registry, () => active);
  active.authorize(r('iris'));
  let text = await registry.metrics();
  assert.match(text, /warden_policy_fallback 0/);
  assert.match(text, /warden_policy_decisions\{evaluator="compiled"\} 1/);
  active = compilePolicySet('permit(principal, action, resource) when { datetime("2026-01-01") < datetime("2027-01-01") };');
  active.authorize(r('iris'));
  text = await registry.metrics();
  assert.match(text, /warden_policy_fallback 1/);
  assert.match(text, /warden_policy_decisions\{evaluator="cedar-wasm"\} 1/);
});

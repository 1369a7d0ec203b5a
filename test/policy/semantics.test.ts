/**
 * Cedar semantics, one expression at a time: each vector is evaluated by the compiled
 * evaluator and by cedar-wasm, and both must give the expected outcome
 * (true = the permit applies, false = it does not, 'error' = the policy errs and is skipped).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicySet, type AuthzRequest } from '../../src/policy/index.js';

const entities = [
  { uid: { type: 'Tenant', id: 'acme' }, attrs: {}, parents: [] },
  { uid: { type: 'Group', id: 'ml' }, attrs: {}, parents: [{ type: 'Tenant', id: 'acme' }] },
  { uid: { type: 'User', id: 'alice' }, attrs: { level: 3, dept: 'ml', tags: ['a', 'b'], meta: { region: 'eu' }, home: { __extn: { fn: 'ip', arg: '10.0.0.0/8' } } }, parents: [{ type: 'Group', id: 'ml' }] },
  { uid: { type: 'Model', id: 'iris' }, attrs: { owner: { __entity: { type: 'User', id: 'alice' } }, limit: { __extn: { fn: 'decimal', arg: '0.75' } } }, parents: [] },
];
const request: AuthzRequest = {
  principal: { type: 'User', id: 'alice' },
  action: { type: 'Action', id: 'invoke' },
  resource: { type: 'Model', id: 'iris' },
  context: { region: 'eu-west-1', n: 5, tags: ['x'], rec: { a: 1 }, ip: { __extn: { fn: 'ip', arg: '10.1.2.3' } } },
};

const vectors: [string, boolean | 'error'][] = [
  // booleans and short-circuit
  ['true && false', false],
  ['false && (1 == context.nope)', false],
  ['true || context.nope', true],
  ['true && 1', 'error'],
  ['if context.n > 3 then true else context.nope', true],
  ['if 1 then true else false', 'error'],
  ['!false', true],
  // equality is structural and never an error across types
  ['1 == "1"', false],
  ['[1, [2]] == [[2], 1, 1]', true],
  ['{a: 1, b: "x"} == {b: "x", a: 1}', true],
  ['principal == User::"alice"', true],
  ['User::"alice" != User::"bob"', true],
  // longs: overflow is an error
  ['context.n * 2 - 1 == 9', true],
  ['-context.n < 0', true],
  ['4611686018427387 * 4000 > 0', 'error'],
  ['"a" < "b"', 'error'],
  // hierarchy
  ['principal in Tenant::"acme"', true],
  ['principal in [Group::"ops", Group::"ml"]', true],
  ['principal in [Group::"ml", 1]', 'error'],
  ['User::"nobody" in User::"nobody"', true],
  ['principal is User in Tenant::"acme"', true],
  ['resource is User', false],
  // attributes: missing attribute / entity is an error, `has` never is
  ['principal.level == 3', true],
  ['principal.meta.region == "eu"', true],
  ['principal has meta.region', true],
  ['principal has meta.zone', false],
  ['User::"ghost" has level', false],
  ['User::"ghost".level == 1', 'error'],
  ['context.missing == 1', 'error'],
  ['resource.owner.dept == "ml"', true],
  ['1 has a', 'error'],
  // strings and like (\\* is a literal star)
  ['context.region like "eu-*"', true],
  ['context.region like "eu"', false],
  ['"a*b" like "a\\*b"', true],
  ['"aXb" like "a\\*b"', false],
  ['"" like "*"', true],
  ['"abcabc" like "*bc*bc"', true],
  ['1 like "*"', 'error'],
  // sets and records
  ['principal.tags.contains("a")', true],
  ['principal.tags.containsAll(["a", "b", "a"])', true],
  ['principal.tags.containsAny(context.tags)', false],
  ['[].isEmpty()', true],
  ['context.rec.a == 1', true],
  ['context.n.contains(1)', 'error'],
  // ip
  ['context.ip.isInRange(principal.home)', true],
  ['ip("10.0.0.1") == ip("10.0.0.1/32")', true],
  ['ip("10.0.0.1/24") == ip("10.0.0.0/24")', false],
  ['ip("127.0.0.2").isLoopback() && ip("::1").isLoopback()', true],
  ['ip("224.0.0.1").isMulticast() && ip("ff02::1").isMulticast()', true],
  ['ip("10.0.0.1").isInRange(ip("::/0"))', false],
  ['ip("::ffff:1.2.3.4").isIpv6()', 'error'],
  ['ip("01.2.3.4").isIpv4()', 'error'],
  ['ip("1.2.3.4/33").isIpv4()', 'error'],
  // decimal: methods only, 4 fractional digits, i64 range
  ['resource.limit.lessThan(decimal("0.8"))', true],
  ['decimal("-0.5") == decimal("-0.50")', true],
  ['decimal("1.23456").lessThan(decimal("2.0"))', 'error'],
  ['decimal("922337203685477.5808").lessThan(decimal("1.0"))', 'error'],
  ['decimal("1.0") < decimal("2.0")', 'error'],
];

test('Cedar semantics vectors: compiled evaluator and cedar-wasm agree with the expected outcome', () => {
  const text = vectors.map(([expr], i) => `@id("v${i}") permit(principal, action, resource) when { ${expr} };`).join('\n');
  const set = compilePolicySet(text, { entities });
  assert.equal(set.fallback, false, set.fallbackReasons.join('; '));
  const compiled = set.authorize(request);
  const reference = set.authorizeWithReference(request);
  const outcome = (d: typeof compiled, id: string): boolean | 'error' => (d.determining.includes(id) ? true : d.errors.some((e) => e.policyId === id) ? 'error' : false);
  for (const [i, [expr, expected]] of vectors.entries()) {
    assert.equal(outcome(reference, `v${i}`), expected, `cedar-wasm on ${expr}`);
    assert.equal(outcome(compiled, `v${i}`), expected, `compiled on ${expr}`);
  }
});

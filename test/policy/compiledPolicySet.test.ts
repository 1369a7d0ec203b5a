import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertSplitMatchesCedar, buildRequestContext, compilePolicySet, type AuthzRequest } from '../../src/policy/index.js';
import { splitPolicies } from '../../src/policy/parsePolicySet.js';
import { WardenError } from '../../src/errors/index.js';

const schemaText = readFileSync('examples/policies/schema.cedarschema', 'utf8');
const demo = readFileSync('examples/policies/demo.cedar', 'utf8');
const residency = readFileSync('examples/policies/residency.cedar', 'utf8');
const residencyEntities = JSON.parse(readFileSync('examples/policies/residency.entities.json', 'utf8'));

const ctx = (over: Partial<Parameters<typeof buildRequestContext>[0]> = {}) =>
  buildRequestContext({ region: 'eu-west-1', classification: 'internal', mfa: false, sourceIp: '10.1.2.3', time: new Date('2026-01-01T00:00:00Z'), ...over });

function req(principal: string, action: string, resource: string, context = ctx(), extra: Partial<AuthzRequest> = {}): AuthzRequest {
  const [pt, pid] = principal.split(':') as [string, string];
  const [rt, rid] = resource.split(':') as [string, string];
  return { principal: { type: pt, id: pid }, action: { type: 'Action', id: action }, resource: { type: rt, id: rid }, context, ...extra };
}

test('demo policy: the demo key may invoke the two demo models and nothing else', () => {
  const set = compilePolicySet(demo, { schemaText });
  assert.equal(set.fallback, false);
  assert.deepEqual(set.authorize(req('ApiKey:demo', 'invoke', 'Model:iris')), { decision: 'allow', determining: ['demo-invoke-iris'], errors: [] });
  assert.deepEqual(set.authorize(req('ApiKey:demo', 'invoke', 'Model:echo')).determining, ['demo-invoke-echo']);
  assert.deepEqual(set.authorize(req('ApiKey:demo', 'invoke', 'Model:llama')), { decision: 'deny', determining: [], errors: [] });
  assert.equal(set.authorize(req('ApiKey:other', 'invoke', 'Model:iris')).decision, 'deny');
  assert.equal(set.authorize(req('ApiKey:demo', 'registerModel', 'Model:iris')).decision, 'deny');
});

test('an empty policy set denies everything (default deny)', () => {
  const set = compilePolicySet('');
  assert.deepEqual(set.authorize(req('User:alice', 'invoke', 'Model:iris')), { decision: 'deny', determining: [], errors: [] });
});

test('forbid overrides permit, and the determining policies are the forbids', () => {
  const set = compilePolicySet(residency, { schemaText, entities: residencyEntities });
  const analyst = { principalParents: [{ type: 'Group', id: 'analysts' }] };
  const allowed = set.authorize(req('User:alice', 'invoke', 'Model:sandbox-llm', ctx(), analyst));
  assert.deepEqual(allowed, { decision: 'allow', determining: ['analysts-invoke-eu'], errors: [] });
  const restricted = set.authorize(req('User:alice', 'invoke', 'Model:sandbox-llm', ctx({ classification: 'restricted' }), analyst));
  assert.deepEqual(restricted, { decision: 'deny', determining: ['no-restricted-data'], errors: [] });
  // Two forbids at once: both are reported, in policy order.
  const both = set.authorize(req('User:carol', 'invoke', 'Model:fraud-detector', ctx({ classification: 'restricted' }), { principalParents: [{ type: 'Group', id: 'contractors' }, { type: 'Group', id: 'analysts' }] }));
  assert.deepEqual(both.determining, ['no-restricted-data', 'no-contractors-in-prod']);
});

test('data residency: a condition on context.region', () => {
  const set = compilePolicySet(residency, { schemaText, entities: residencyEntities });
  const analyst = { principalParents: [{ type: 'Group', id: 'analysts' }] };
  assert.equal(set.authorize(req('User:alice', 'invoke', 'Model:sandbox-llm', ctx({ region: 'eu-central-1' }), analyst)).decision, 'allow');
  assert.equal(set.authorize(req('User:alice', 'invoke', 'Model:sandbox-llm', ctx({ region: 'us-east-1' }), analyst)).decision, 'deny');
  // Membership comes from the entity hierarchy, transitively: analysts ∈ acme, the model ∈ acme.
  assert.equal(set.authorize(req('User:alice', 'invoke', 'Model:sandbox-llm', ctx(), {})).decision, 'deny');
});

test('classification: confidential requests need MFA from the corporate network', () => {
  const set = compilePolicySet(residency, { schemaText, entities: residencyEntities });
  const analyst = { principalParents: [{ type: 'Group', id: 'analysts' }] };
  const noMfa = set.authorize(req('User:alice', 'invoke', 'Model:fraud-detector', ctx({ classification: 'confidential' }), analyst));
  assert.deepEqual(noMfa, { decision: 'deny', determining: ['confidential-needs-mfa'], errors: [] });
  const withMfa = set.authorize(req('User:alice', 'invoke', 'Model:fraud-detector', ctx({ classification: 'confidential', mfa: true }), analyst));
  assert.equal(withMfa.decision, 'allow');
  const outside = set.authorize(req('User:alice', 'invoke', 'Model:fraud-detector', ctx({ classification: 'confidential', mfa: true, sourceIp: '203.0.113.9' }), analyst));
  assert.equal(outside.decision, 'deny');
  // Dual-stack sockets report IPv4 as ::ffff:a.b.c.d; the context builder unwraps it.
  const mapped = set.authorize(req('User:alice', 'invoke', 'Model:fraud-detector', ctx({ classification: 'confidential', mfa: true, sourceIp: '::ffff:10.9.9.9' }), analyst));
  assert.equal(mapped.decision, 'allow');
});

test('explanations: erroring policies are skipped and reported with a message', () => {
  const set = compilePolicySet(`
    @id("needs-level") permit(principal, action, resource) when { principal.level > 3 };
    @id("forbid-broken") forbid(principal, action, resource) when { context.missing == 1 };
    @id("ok") permit(principal == User::"alice", action, resource);
  `);
  const d = set.authorize(req('User:alice', 'invoke', 'Model:iris', {}));
  // The erroring forbid does not apply; the erroring permit does not either.
  assert.equal(d.decision, 'allow');
  assert.deepEqual(d.determining, ['ok']);
  assert.deepEqual(d.errors.map((e) => e.policyId), ['needs-level', 'forbid-broken']);
  assert.match(d.errors[0]!.message, /does not exist/);
  assert.match(d.errors[1]!.message, /missing/);
  const ref = set.authorizeWithReference(req('User:alice', 'invoke', 'Model:iris', {}));
  assert.deepEqual({ ...ref, errors: ref.errors.map((e) => e.policyId) }, { ...d, errors: d.errors.map((e) => e.policyId) });
});

test('entity hierarchy: `in` is transitive through entities and request parents', () => {
  const entities = [
    { uid: { type: 'Group', id: 'ml' }, attrs: {}, parents: [{ type: 'Tenant', id: 'acme' }] },
    { uid: { type: 'User', id: 'bob' }, attrs: { level: 5 }, parents: [{ type: 'Group', id: 'ml' }] },
  ];
  const set = compilePolicySet('@id("t") permit(principal in Tenant::"acme", action, resource) when { principal has level };', { entities });
  assert.equal(set.authorize(req('User:bob', 'invoke', 'Model:iris', {})).decision, 'allow');
  assert.equal(set.authorize(req('User:eve', 'invoke', 'Model:iris', {})).decision, 'deny');
  // eve is placed in ml by authentication: she is in acme, but has no `level` attribute.
  assert.equal(set.authorize(req('User:eve', 'invoke', 'Model:iris', {}, { principalParents: [{ type: 'Group', id: 'ml' }] })).decision, 'deny');
  assert.equal(
    set.authorize(req('User:eve', 'invoke', 'Model:iris', {}, { entities: [{ uid: { type: 'User', id: 'eve' }, attrs: { level: 1 }, parents: [{ type: 'Group', id: 'ml' }] }] })).decision,
    'allow',
  );
});

test('entity hierarchy: a request parent that is the other request entity brings that one\'s request parents along (as Cedar)', () => {
  const set = compilePolicySet('permit(principal, action, resource);\n@id("no-x") forbid(principal in Tenant::"x", action, resource);\n@id("no-g") forbid(principal, action, resource in Group::"g");');
  const model = { type: 'Model', id: 'm' };
  const alice = { type: 'User', id: 'alice' };
  const cases: [string, Partial<AuthzRequest>, string[]][] = [
    // alice is in Model::"m", which the request places in Tenant::"x": alice is in Tenant::"x".
    ['principal -> resource -> X', { principalParents: [model], resourceParents: [{ type: 'Tenant', id: 'x' }] }, ['no-x']],
    // Model::"m" is in alice, who is in Group::"g": the model is in Group::"g".
    ['resource -> principal -> G', { principalParents: [{ type: 'Group', id: 'g' }], resourceParents: [alice] }, ['no-g']],
  ];
  for (const [label, extra, determining] of cases) {
    const r = req('User:alice', 'invoke', 'Model:m', {}, extra);
    assert.deepEqual(set.authorize(r), { decision: 'deny', determining, errors: [] }, label);
    assert.deepEqual(set.authorizeWithReference(r), { decision: 'deny', determining, errors: [] }, `${label} (reference)`);
  }
});

test('action groups from the schema: action in Action::"admin" covers admin::*', () => {
  const set = compilePolicySet('@id("admins") permit(principal in Group::"admins", action in Action::"admin", resource);', { schemaText });
  const admin = { principalParents: [{ type: 'Group', id: 'admins' }] };
  assert.equal(set.authorize(req('User:root', 'admin::keys', 'Tenant:acme', ctx(), admin)).decision, 'allow');
  assert.equal(set.authorize(req('User:root', 'admin::policies', 'Tenant:acme', ctx(), admin)).decision, 'allow');
  assert.equal(set.authorize(req('User:root', 'invoke', 'Model:iris', ctx(), admin)).decision, 'deny');
});

test('constructs the compiler does not handle fall back to cedar-wasm and say so', () => {
  const set = compilePolicySet('@id("office-hours") permit(principal, action, resource) when { datetime("2026-01-01") < datetime("2027-01-01") };');
  assert.equal(set.fallback, true);
  assert.match(set.fallbackReasons.join(' '), /datetime/);
  assert.deepEqual(set.authorize(req('User:a', 'invoke', 'Model:m', {})), { decision: 'allow', determining: ['office-hours'], errors: [] });
  assert.equal(set.stats.referenceDecisions, 1);
});

test('a Long beyond 2^53 is answered exactly (by cedar-wasm for that request)', () => {
  const set = compilePolicySet('@id("big") permit(principal, action, resource) when { context.n < 9007199254740993 };');
  assert.equal(set.fallback, true); // the literal itself is beyond 2^53
  const set2 = compilePolicySet('@id("big") permit(principal, action, resource) when { context.n * 4096 > 0 };');
  assert.equal(set2.fallback, false);
  assert.equal(set2.authorize(req('User:a', 'invoke', 'Model:m', { n: 2 ** 45 })).decision, 'allow');
  assert.equal(set2.stats.referenceDecisions, 1);
  const overflow = set2.authorize(req('User:a', 'invoke', 'Model:m', { n: 2 ** 52 }));
  assert.equal(overflow.decision, 'deny');
  assert.match(overflow.errors[0]!.message, /overflow/);
});

test('bad input gets a stable error code and nothing is half-built', () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof WardenError);
      return err.code;
    }
    return 'no error';
  };
  assert.equal(code(() => compilePolicySet('permit(principal, action, resource')), 'WARDEN_POLICY_PARSE_FAILED');
  assert.equal(code(() => compilePolicySet('permit(principal == ?principal, action, resource);')), 'WARDEN_POLICY_UNSUPPORTED');
  assert.equal(code(() => compilePolicySet('@id("a") permit(principal, action, resource);\n@id("a") forbid(principal, action, resource);')), 'WARDEN_POLICY_PARSE_FAILED');
  assert.equal(code(() => compilePolicySet('permit(principal, action, resource);', { schemaText: 'entity ;' })), 'WARDEN_POLICY_SCHEMA_INVALID');
  assert.equal(code(() => compilePolicySet('permit(principal, action == Action::"fly", resource);', { schemaText })), 'WARDEN_POLICY_VALIDATION_FAILED');
  assert.equal(code(() => compilePolicySet('permit(principal == User::"a", action == Action::"invoke", resource) when { context.regoin == "eu" };', { schemaText })), 'WARDEN_POLICY_VALIDATION_FAILED');
  const cycle = [
    { uid: { type: 'Group', id: 'a' }, attrs: {}, parents: [{ type: 'Group', id: 'b' }] },
    { uid: { type: 'Group', id: 'b' }, attrs: {}, parents: [{ type: 'Group', id: 'a' }] },
  ];
  assert.equal(code(() => compilePolicySet('permit(principal, action, resource);', { entities: cycle })), 'WARDEN_POLICY_ENTITIES_INVALID');
  const wrongAttr = [{ uid: { type: 'Model', id: 'm' }, attrs: { classification: 3 }, parents: [] }];
  assert.equal(code(() => compilePolicySet(demo, { schemaText, entities: wrongAttr })), 'WARDEN_POLICY_ENTITIES_INVALID');
  const parseError = (() => {
    try {
      compilePolicySet('permit(principal, action, resource);\npermit(principal, action, resource) when { 1 + };');
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  })();
  assert.match(parseError, /^Cedar parse error: 2:\d+ /);
});

test('a malformed request is denied with a request error, not an exception', () => {
  const set = compilePolicySet('permit(principal, action, resource);');
  const d = set.authorize(req('User:a', 'invoke', 'Model:m', { ratio: 0.5 }));
  assert.equal(d.decision, 'deny');
  assert.equal(d.errors[0]!.policyId, '(request)');
});

test('policy ids: @id annotations, else policy<N> in source order (also beyond 10 policies)', () => {
  const text = Array.from({ length: 12 }, (_, i) => (i === 11 ? '@id("last") ' : '') + `permit(principal == User::"u${i}", action, resource);`).join('\n');
  const set = compilePolicySet(text);
  assert.deepEqual(set.policies.map((p) => p.id), [...Array.from({ length: 11 }, (_, i) => `policy${i}`), 'last']);
  assert.deepEqual(set.authorize(req('User:u10', 'invoke', 'Model:m', {})).determining, ['policy10']);
  assert.deepEqual(set.authorize(req('User:u2', 'invoke', 'Model:m', {})).determining, ['policy2']);
});

test('a `//` comment ends at a bare carriage return, as in Cedar: the policy after it is enforced', () => {
  const text = 'permit(principal, action, resource);\n// contractors are never allowed\rforbid(principal in Group::"contractors", action, resource);\n';
  const set = compilePolicySet(text);
  assert.deepEqual(set.policies.map((p) => [p.id, p.effect]), [['policy0', 'permit'], ['policy1', 'forbid']]);
  assert.ok(set.policies[1]!.text.startsWith('forbid('), 'the leading comment is not part of the explained text');
  const contractor = req('User:bob', 'invoke', 'Model:m', {}, { principalParents: [{ type: 'Group', id: 'contractors' }] });
  assert.equal(set.authorize(contractor).decision, 'deny');
  // Text after the last `;` that follows a CR-ended comment is not discarded as comment: here it is an unfinished policy.
  assert.throws(() => compilePolicySet('permit(principal, action, resource);// note\rforbid(principal, action, resource)'), /WARDEN_POLICY_PARSE_FAILED|unexpected end of input/);
  assert.doesNotThrow(() => assertSplitMatchesCedar(text));
});

test('assertSplitMatchesCedar refuses a split that disagrees with the reference parser (so no policy is dropped silently)', () => {
  const text = 'permit(principal, action, resource);\nforbid(principal, action, resource);\n';
  assert.doesNotThrow(() => assertSplitMatchesCedar(text));
  // A splitter that missed the forbid (as one that ended comments only at \n did).
  assert.throws(() => assertSplitMatchesCedar(text, splitPolicies(text).slice(0, 1)), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_POLICY_SPLIT_MISMATCH');
  // Large sets are checked in chunks at the splitter's boundaries: every chunk must agree.
  const many = Array.from({ length: 2500 }, (_, i) => `permit(principal == User::"u${i}", action, resource); // ${i};`).join('\n');
  assert.doesNotThrow(() => assertSplitMatchesCedar(many));
  const pieces = splitPolicies(many);
  assert.throws(() => assertSplitMatchesCedar(many, [...pieces.slice(0, 1500), ...pieces.slice(1501)]), /WARDEN_POLICY_SPLIT_MISMATCH|Cedar finds/);
  assert.doesNotThrow(() => assertSplitMatchesCedar(''));
});

test('policies are split at top-level semicolons only (strings and comments may hold ";")', () => {
  const set = compilePolicySet(`
    // a comment; with a semicolon
    @id("semi-colon") permit(principal == User::"a;b", action, resource) when { context.x == "; \\" ;" }; // trailing; comment
    permit(principal, action, resource) unless { "//" == "x" };
    // the end;
  `);
  assert.deepEqual(set.policies.map((p) => p.id), ["semi-colon", "policy1"]);
  assert.ok(set.policies[0]!.text.startsWith('@id("semi-colon")'));
  assert.equal(set.authorize(req('User:a;b', 'invoke', 'Model:m', { x: '; " ;' })).decision, 'allow');
});

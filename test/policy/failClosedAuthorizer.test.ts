import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { buildRequestContext, compilePolicySet, FailClosedAuthorizer } from '../../src/policy/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';

const POLICIES = `
@id("everyone") permit(principal, action == Action::"invoke", resource);
@id("no-contractors") forbid(principal, action, resource) when { principal.department == "contractors" };
@id("flaky-permit") permit(principal, action, resource) when { principal.level > 3 };
`;
const entities = [
  { uid: { type: 'User', id: 'bob' }, attrs: { department: 'contractors' }, parents: [] },
  { uid: { type: 'User', id: 'dave' }, attrs: { department: 'research' }, parents: [] },
];
const context = buildRequestContext({ region: 'eu-west-1', classification: 'internal', mfa: false, sourceIp: '10.0.0.1' });
const invoke = (id: string) => ({ principal: { type: 'User', id }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'Model', id: 'm' }, context });

test('a forbid that cannot be evaluated denies at the PEP (Cedar alone skips it and allows)', () => {
  const set = compilePolicySet(POLICIES, { entities });
  const pep = new FailClosedAuthorizer(set);
  // carol is not in the entity store: `principal.department` errors in the forbid.
  const cedar = set.authorize(invoke('carol'));
  assert.equal(cedar.decision, 'allow', 'Cedar semantics: the erroring forbid is skipped');
  const d = pep.authorize(invoke('carol'));
  assert.equal(d.decision, 'deny');
  assert.deepEqual(d.determining, ['no-contractors']);
  assert.ok(d.errors.some((e) => e.policyId === 'no-contractors'));
  // Unchanged where the forbid evaluates, and an erroring permit does not deny.
  assert.equal(pep.authorize(invoke('bob')).decision, 'deny');
  const dave = pep.authorize(invoke('dave'));
  assert.equal(dave.decision, 'allow');
  assert.ok(dave.errors.some((e) => e.policyId === 'flaky-permit'), 'dave has no level: only a permit errors');
});

test('the gateway refuses a caller whose forbid errors, and says why', async (t) => {
  const policies = `@id("all") permit(principal, action, resource);\n@id("corp-only") forbid(principal, action, resource) unless { context.nope == 1 };`;
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'u', url: 'http://127.0.0.1:9', models: ['m'] })],
    snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY, undefined, policies),
  });
  t.after(() => gw.close(0));
  const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
  const body = (await r.body.json()) as { error: { code: string; message: string } };
  assert.equal(r.statusCode, 403);
  assert.equal(body.error.code, 'WARDEN_AUTHZ_DENIED');
  assert.match(body.error.message, /forbid policy could not be evaluated/);
});

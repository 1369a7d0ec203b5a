// `warden policy explain` and `analyze` must see what the gateway enforces: the published set
// plus the permits generated from API key scopes. Before, explain compiled the published set
// alone (DENY no-permit-applies for a call the gateway allowed under `key-scope:<id>:<model>`),
// analyze never flagged a `model:*` key nor an unused key scope, and its observed policy wrote
// `resource == Model::"M"`, which refuses the versioned calls of the traffic it was built from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicySet } from '../../src/policy/index.js';
import { startEmbeddedWarden, type EmbeddedWarden } from '../helpers/embeddedWarden.js';

interface Explained {
  decision: string;
  reason: string;
  determining: { id: string; effect: string; text: string }[];
  keyScopesIncluded: boolean;
}

async function explain(s: EmbeddedWarden, body: object): Promise<Explained> {
  const r = await s.admin('POST', '/policies/explain', body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json as unknown as Explained;
}

test('explain answers as the gateway decides: a scoped key is allowed by its key-scope permit, named as in the audit record; what-if says whether key scopes were included', { timeout: 120_000 }, async (t) => {
  const s = await startEmbeddedWarden(t, 'warden-key-scope-explain-');
  const teamA = await s.createKey('team-a', ['model:echo']);
  assert.equal((await s.invoke(teamA.key, 'echo')).status, 200, 'the gateway allows it');
  const grant = `key-scope:${teamA.id}:echo`;
  const request = { principal: 'ApiKey::"team-a"', action: 'invoke', resource: 'Model::"echo"' };

  const e = await explain(s, request);
  assert.equal(e.decision, 'allow', JSON.stringify(e));
  assert.equal(e.reason, 'permitted');
  assert.deepEqual(e.determining.map((d) => d.id), [grant]);
  assert.match(e.determining[0]!.text, /permit\(principal == ApiKey::"team-a", .*resource in Model::"echo"\)/);
  assert.equal(e.keyScopesIncluded, true);
  // The audit record of the gateway's decision names the same permit.
  const records = (await s.admin('GET', '/audit/records?kind=decision')).json.entries as { record: { principal?: string; policies?: string[] } }[];
  assert.ok(records.some((r) => r.record.principal === 'ApiKey::"team-a"' && r.record.policies?.includes(grant)), JSON.stringify(records.map((r) => r.record.policies)));

  // Versioned calls too (ModelVersion in Model), and nothing beyond the scope.
  assert.equal((await explain(s, { ...request, resource: 'ModelVersion::"echo@1"', resourceParents: ['Model::"echo"'] })).decision, 'allow');
  const other = await explain(s, { ...request, resource: 'Model::"iris"' });
  assert.deepEqual([other.decision, other.reason], ['deny', 'no-permit-applies']);
  assert.equal((await s.invoke(teamA.key, 'iris')).status, 403, 'as at the gateway');

  // What-if over the published text: key scopes only when asked for, and the answer says which.
  const published = ((await s.admin('GET', '/policies')).json as { policies: string }).policies;
  const whatIf = await explain(s, { ...request, policies: published });
  assert.deepEqual([whatIf.decision, whatIf.keyScopesIncluded], ['deny', false]);
  const whatIfWithKeys = await explain(s, { ...request, policies: published, includeKeyScopes: true });
  assert.deepEqual([whatIfWithKeys.decision, whatIfWithKeys.keyScopesIncluded, whatIfWithKeys.determining.map((d) => d.id)], ['allow', true, [grant]]);
  const publishedOnly = await explain(s, { ...request, includeKeyScopes: false });
  assert.deepEqual([publishedOnly.decision, publishedOnly.keyScopesIncluded], ['deny', false]);

  // Only active keys grant: once revoked, explain and the gateway both refuse.
  assert.equal((await s.admin('POST', `/keys/${teamA.id}/revoke`)).status, 200);
  assert.equal((await explain(s, request)).decision, 'deny');
  assert.equal((await s.invoke(teamA.key, 'echo')).status, 401);
});

interface Finding {
  rule: string;
  severity: string;
  policyId?: string;
  keyId?: string;
  message: string;
}

test('analyze includes key scopes: a model:* key is flagged with how to narrow it, an unused key scope is reported, and the observed policy uses `in`', { timeout: 120_000 }, async (t) => {
  const s = await startEmbeddedWarden(t, 'warden-key-scope-analyze-');
  const wide = await s.createKey('wide', ['model:*']);
  const narrow = await s.createKey('narrow', ['model:echo', 'model:iris']);
  assert.equal((await s.invoke(narrow.key, 'echo')).status, 200);

  // Audit records reach the log through a queue: wait until the allowed call is counted.
  let report: { usage: Record<string, number>; findings: Finding[]; observedPolicy: { text: string } } | undefined;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const r = await s.admin('GET', '/policies/analyze?days=7');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    report = r.json as unknown as typeof report;
    if (report!.usage[`key-scope:${narrow.id}:echo`]) break;
  }
  assert.equal(report!.usage[`key-scope:${narrow.id}:echo`], 1, JSON.stringify(report!.usage));

  const wideFindings = report!.findings.filter((f) => f.keyId === wide.id);
  const wildcard = wideFindings.filter((f) => f.rule === 'wildcard-key-scope');
  assert.equal(wildcard.length, 1, `one finding for the key, not one per generated permit: ${JSON.stringify(report!.findings)}`);
  assert.equal(wildcard[0]!.severity, 'high');
  assert.equal(wildcard[0]!.policyId, `key-scope:${wide.id}:any-model`);
  assert.match(wildcard[0]!.message, /API key .*"wide".*model:\*.*every model/);
  assert.ok(wildcard[0]!.message.includes(`warden keys revoke ${wide.id}`) && wildcard[0]!.message.includes('warden keys create --name "wide" --model'), wildcard[0]!.message);
  // Unused: the model:* scope (both of its permits) and narrow's iris scope; not narrow's echo.
  const unused = report!.findings.filter((f) => f.rule === 'unused-key-scope').map((f) => `${f.keyId} ${f.policyId}`).sort();
  assert.deepEqual(unused, [`${narrow.id} key-scope:${narrow.id}:iris`, `${wide.id} key-scope:${wide.id}:any-model`].sort());
  assert.ok(!report!.findings.some((f) => f.rule === 'unused-grant' && f.policyId?.startsWith('key-scope:')), 'a key scope is reported as a key scope');

  // The observed policy grants what was observed, versioned calls included.
  const text = report!.observedPolicy.text;
  assert.match(text, /principal == ApiKey::"narrow",\n {2}action == Action::"invoke",\n {2}resource in Model::"echo"\n\);/);
  assert.doesNotMatch(text, /resource == Model::/);
  const observed = compilePolicySet(text);
  const decide = (resource: { type: string; id: string }, parents?: { type: string; id: string }[]) =>
    observed.authorize({ principal: { type: 'ApiKey', id: 'narrow' }, action: { type: 'Action', id: 'invoke' }, resource, resourceParents: parents, context: {} }).decision;
  assert.equal(decide({ type: 'Model', id: 'echo' }), 'allow');
  assert.equal(decide({ type: 'ModelVersion', id: 'echo@1' }, [{ type: 'Model', id: 'echo' }]), 'allow');
  assert.equal(decide({ type: 'Model', id: 'iris' }), 'deny');
});

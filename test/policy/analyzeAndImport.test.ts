import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzePolicySet, compilePolicySet, importIamPolicy, runPolicyTests, type ObservedDecision } from '../../src/policy/index.js';
import { WardenError } from '../../src/errors/index.js';

const schemaText = readFileSync('examples/policies/schema.cedarschema', 'utf8');

test('import-iam: the Resource "*" SageMaker grant is translated and flagged as over-broad', () => {
  const r = importIamPolicy(JSON.parse(readFileSync('examples/policies/sagemaker-iam.json', 'utf8')));
  const set = compilePolicySet(r.cedar, { schemaText });
  assert.deepEqual(set.policies.map((p) => p.id), ['iam-MLPlatformAll', 'iam-ReadTrainingData', 'iam-OfficeOnlyInvoke', 'iam-NoDeletes']);
  // The tag condition has no Warden equivalent: the statement is left out, never widened.
  assert.deepEqual(r.untranslated.map((u) => u.statement), ['TagBased']);
  assert.match(r.untranslated[0]!.reason, /aws:ResourceTag\/team/);
  const report = analyzePolicySet(set);
  const broad = report.findings.find((f) => f.rule === 'wildcard-resource' && f.policyId === 'iam-MLPlatformAll');
  assert.ok(broad, JSON.stringify(report.findings));
  assert.equal(broad.severity, 'high');
  assert.match(broad.message, /invoke/);
  // The translation means the same thing: conditions survive.
  const ctx = { region: 'eu-west-1', classification: 'internal', mfa: true, sourceIp: { __extn: { fn: 'ip', arg: '10.2.3.4' } }, time: 0 };
  const invoke = (model: string, context = ctx) =>
    set.authorize({ principal: { type: 'User', id: 'x' }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'Model', id: model }, context });
  assert.deepEqual(invoke('fraud-detector').determining, ['iam-MLPlatformAll', 'iam-OfficeOnlyInvoke']);
  const write = set.authorize({ principal: { type: 'User', id: 'x' }, action: { type: 'Action', id: 'writeDataset' }, resource: { type: 'Dataset', id: 'claims-training' }, context: ctx });
  assert.deepEqual(write, { decision: 'deny', determining: ['iam-NoDeletes'], errors: [] });
});

test('import-iam: conditions, principals and what cannot be translated', () => {
  const r = importIamPolicy(
    {
      Statement: [
        { Sid: 'a', Effect: 'Allow', Action: 'sagemaker:*Endpoint', Resource: 'arn:aws:sagemaker:eu-west-1:1:endpoint/iris', Condition: { StringLike: { 'aws:RequestedRegion': 'eu-*' } } },
        { Sid: 'b', Effect: 'Allow', NotAction: 's3:*', Resource: '*' },
        { Sid: 'c', Effect: 'Deny', Action: 'iam:PassRole', Resource: '*' },
        { Sid: 'd', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/prefix-*' },
        { Sid: 'e', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123:role/ml-team' }, Action: 'bedrock:InvokeModel', Resource: ['arn:aws:bedrock:us-east-1::foundation-model/claude', 'arn:aws:bedrock:us-east-1::foundation-model/llama'] },
      ],
    },
    { principal: { type: 'User', id: 'alice' } },
  );
  assert.match(r.cedar, /principal == User::"alice",\n  action in \[Action::"deployModel", Action::"invoke"\]|principal == User::"alice",\n  action in \[Action::"invoke", Action::"deployModel"\]/);
  assert.match(r.cedar, /context.region like "eu-\*"/);
  assert.match(r.cedar, /principal == Group::"ml-team"/);
  assert.match(r.cedar, /\[Model::"claude", Model::"llama"\].contains\(resource\)/);
  assert.deepEqual(r.untranslated.map((u) => u.statement), ['b', 'c', 'd']);
  assert.match(r.untranslated[1]!.reason, /Deny is NOT enforced/);
  assert.ok(r.notes.some((n) => /expanded/.test(n)));
  assert.throws(() => importIamPolicy({ Version: '2012-10-17' }), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_POLICY_IAM_INVALID');
});

test('import-iam: a Deny on a key prefix forbids the whole bucket; an Allow on one and s3:ListBucket are not translated', () => {
  const r = importIamPolicy(
    {
      Statement: [
        { Sid: 'ReadBucket', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::corp-data/*' },
        { Sid: 'NoSecrets', Effect: 'Deny', Action: 's3:GetObject', Resource: 'arn:aws:s3:::corp-data/secret/*' },
        { Sid: 'PublicPrefix', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::other/public/*' },
        { Sid: 'List', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::listed' },
        { Sid: 'x\rpermit(principal, action, resource);', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b\u0001' },
      ],
    },
    { principal: { type: 'User', id: 'alice' } },
  );
  assert.deepEqual(r.untranslated.map((u) => u.statement), ['PublicPrefix', 'List']);
  assert.ok(r.notes.some((n) => /forbids the whole bucket Dataset::"corp-data"/.test(n)), JSON.stringify(r.notes));
  const set = compilePolicySet(r.cedar);
  // Text from the document cannot end the generated comment and add a policy of its own.
  assert.equal(set.policies.length, 3);
  const read = (id: string) => set.authorize({ principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'readDataset' }, resource: { type: 'Dataset', id }, context: {} }).decision;
  assert.equal(read('corp-data'), 'deny');
  assert.equal(read('listed'), 'deny');
  assert.equal(read('b\u0001'), 'allow');
  assert.equal(read('elsewhere'), 'deny');
});

test('analyze: wildcard scopes, unconditional access to sensitive resources, unused grants, observed policy', () => {
  const set = compilePolicySet(
    `@id("everything") permit(principal, action, resource);
     @id("claims") permit(principal == User::"bob", action == Action::"readDataset", resource == Dataset::"claims");
     @id("fraud") permit(principal in Group::"analysts", action == Action::"invoke", resource == Model::"fraud");
     @id("demo") permit(principal == ApiKey::"demo", action == Action::"invoke", resource == Model::"iris");
     @id("guarded") permit(principal == ApiKey::"demo", action == Action::"invoke", resource) when { context.mfa };
     @id("every-model") permit(principal == ApiKey::"batch", action == Action::"invoke", resource is Model);
     @id("datasets-of-tenant") permit(principal == ApiKey::"batch", action == Action::"readDataset", resource is Dataset in Tenant::"acme") when { context.mfa };`,
    { entities: [{ uid: { type: 'Model', id: 'fraud' }, attrs: { classification: 'confidential' }, parents: [] }] },
  );
  const now = new Date('2026-06-01T00:00:00Z');
  const day = (d: number): string => new Date(now.getTime() - d * 86_400_000).toISOString();
  const audit: ObservedDecision[] = [
    { ts: day(1), kind: 'decision', principal: 'ApiKey::"demo"', action: 'invoke', resource: 'Model::"iris"', decision: 'allow', policies: ['demo', 'everything'] },
    { ts: day(2), kind: 'decision', principal: 'ApiKey::"demo"', action: 'Action::"invoke"', resource: 'Model::"echo"', decision: 'allow', policies: ['everything'] },
    { ts: day(3), kind: 'decision', principal: 'User::"bob"', action: 'readDataset', resource: 'Dataset::"claims"', decision: 'deny', policies: [] },
    { ts: day(200), kind: 'decision', principal: 'User::"bob"', action: 'readDataset', resource: 'Dataset::"claims"', decision: 'allow', policies: ['claims'] },
    { ts: day(1), kind: 'admin', action: 'policy.publish' },
  ];
  const report = analyzePolicySet(set, { audit, days: 30, now });
  const rules = report.findings.map((f) => `${f.severity}:${f.rule}:${f.policyId ?? ''}`);
  assert.ok(rules.includes('critical:wildcard-scope:everything'), rules.join(' '));
  assert.ok(rules.includes('medium:unconditional-sensitive:claims'));
  assert.ok(rules.includes('medium:unconditional-sensitive:fraud'));
  assert.ok(!rules.some((r) => r.endsWith('unconditional-sensitive:demo')), 'an unclassified model is not sensitive by default');
  assert.ok(rules.includes('medium:wildcard-resource:guarded'));
  // `resource is Model` is every model, today's and later ones; `is … in` is scoped.
  assert.ok(rules.includes('high:wildcard-resource:every-model'), rules.join(' '));
  assert.match(report.findings.find((f) => f.policyId === 'every-model' && f.rule === 'wildcard-resource')!.message, /on every Model/);
  assert.ok(!rules.some((r) => r.includes('wildcard-resource:datasets-of-tenant')), rules.join(' '));
  // Used 200 days ago only: unused within a 30-day window.
  assert.ok(rules.includes('low:unused-grant:claims'));
  assert.ok(!rules.includes('low:unused-grant:demo'));
  assert.equal(report.usage!.everything, 2);
  assert.equal(report.summary.bySeverity.critical, 1);
  assert.equal(report.findings[0]!.severity, 'critical');
  // The observed policy allows exactly the observed traffic.
  const observed = compilePolicySet(report.observedPolicy!.text);
  assert.equal(report.observedPolicy!.allowedRequests, 2);
  const invoke = (model: string) => observed.authorize({ principal: { type: 'ApiKey', id: 'demo' }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'Model', id: model }, context: {} }).decision;
  assert.equal(invoke('iris'), 'allow');
  assert.equal(invoke('echo'), 'allow');
  assert.equal(invoke('llama'), 'deny');
  // Audit records name the Model; the call may have been authorized as one of its versions.
  const versioned = (id: string, model: string) =>
    observed.authorize({ principal: { type: 'ApiKey', id: 'demo' }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'ModelVersion', id }, resourceParents: [{ type: 'Model', id: model }], context: {} }).decision;
  assert.equal(versioned('iris@2', 'iris'), 'allow');
  assert.equal(versioned('echo@1', 'echo'), 'allow');
  assert.equal(versioned('llama@1', 'llama'), 'deny');
  assert.match(report.observedPolicy!.text, /when \{ resource in \[Model::"echo", Model::"iris"\] \}/);
  assert.equal(analyzePolicySet(compilePolicySet('')).findings.length, 0);
});

test('analyze: `when { true }` is no condition, `principal is T` is every T, `resource is Dataset in X` is sensitive', () => {
  const rules = (text: string) => analyzePolicySet(compilePolicySet(text)).findings.map((f) => `${f.severity}:${f.rule}`).sort();
  assert.deepEqual(rules('permit(principal, action, resource) when { true };'), ['critical:wildcard-scope']);
  assert.deepEqual(rules('permit(principal, action, resource) unless { false };'), ['critical:wildcard-scope']);
  assert.deepEqual(rules('permit(principal == User::"a", action == Action::"invoke", resource is Model) when { true };'), ['high:wildcard-resource']);
  assert.deepEqual(rules('permit(principal is ApiKey, action == Action::"invoke", resource == Model::"m");'), ['high:wildcard-principal']);
  assert.deepEqual(rules('permit(principal is User in Group::"g", action == Action::"invoke", resource == Model::"m");'), []);
  const tenant = analyzePolicySet(compilePolicySet('permit(principal == User::"a", action == Action::"readDataset", resource is Dataset in Tenant::"t");')).findings;
  assert.deepEqual(tenant.map((f) => f.rule), ['unconditional-sensitive']);
  assert.match(tenant[0]!.message, /every Dataset in Tenant::"t"/);
  // A real condition still counts as one.
  assert.deepEqual(rules('permit(principal == User::"a", action == Action::"readDataset", resource is Dataset in Tenant::"t") when { context.mfa };'), []);
});

test('analyze --audit: ids with control characters are written with Cedar escapes; one Cedar cannot write is skipped, not fatal', () => {
  const set = compilePolicySet('@id("any-model") permit(principal == ApiKey::"k", action == Action::"invoke", resource is Model);');
  const rec = (resource: string): ObservedDecision => ({ ts: '2026-11-29T00:00:00Z', kind: 'decision', principal: 'ApiKey::"k"', action: 'invoke', resource, decision: 'allow', policies: ['any-model'] });
  const audit = [rec('Model::"iris"'), rec('Model::"x\\u0001\\"q"'), rec('Model::"\\ud800"'), rec('if::"x"')];
  const r = analyzePolicySet(set, { audit, now: new Date('2026-11-30T00:00:00Z') });
  assert.equal(r.observedPolicy!.allowedRequests, 2);
  assert.equal(r.observedPolicy!.skippedRecords, 2);
  assert.match(r.observedPolicy!.text, /resource in \[Model::"iris", Model::"x\\u\{1\}\\"q"\]/);
  const observed = compilePolicySet(r.observedPolicy!.text);
  const invoke = (id: string) => observed.authorize({ principal: { type: 'ApiKey', id: 'k' }, action: { type: 'Action', id: 'invoke' }, resource: { type: 'Model', id }, context: {} }).decision;
  assert.equal(invoke('x\u0001"q'), 'allow');
  assert.equal(invoke('x'), 'deny');
});

test('policy tests: YAML cases pass, fail with a reason, and malformed files get a code', () => {
  const ok = runPolicyTests('examples/policies/residency.test.yaml');
  assert.equal(ok.failed, 0);
  assert.equal(ok.passed, 6);
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-'));
  try {
    writeFileSync(join(dir, 'p.cedar'), '@id("p") permit(principal == User::"a", action, resource);');
    writeFileSync(
      join(dir, 't.yaml'),
      'policies: p.cedar\ntests:\n  - { name: wrong, principal: User::"a", action: invoke, resource: Model::"m", expect: deny }\n  - { name: right, principal: User::"a", action: invoke, resource: Model::"m", expect: allow, determining: [p] }\n',
    );
    const r = runPolicyTests(join(dir, 't.yaml'));
    assert.equal(r.failed, 1);
    assert.equal(r.results[0]!.ok, false);
    assert.match(r.results[0]!.message!, /expected deny, got allow/);
    writeFileSync(join(dir, 'bad.yaml'), 'policies: p.cedar\ntests:\n  - { name: x, principal: User::"a", action: invoke, resource: Model::"m", expect: maybe }\n');
    assert.throws(() => runPolicyTests(join(dir, 'bad.yaml')), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_POLICY_TEST_INVALID' && /expect/.test(e.message));
    writeFileSync(join(dir, 'missing.yaml'), 'policies: nope.cedar\ntests:\n  - { name: x, principal: User::"a", action: invoke, resource: Model::"m", expect: deny }\n');
    assert.throws(() => runPolicyTests(join(dir, 'missing.yaml')), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_POLICY_TEST_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

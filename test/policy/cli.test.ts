import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

/** Runs the CLI in-process, capturing stdout and stderr. */
async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  // The test runner reports to the parent over stdout in binary frames: let those through.
  process.stdout.write = ((s: string | Uint8Array, ...rest: never[]) => (typeof s === 'string' ? ((stdout += s), true) : out(s, ...rest))) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array, ...rest: never[]) => (typeof s === 'string' ? ((stderr += s), true) : err(s, ...rest))) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

const schema = 'examples/policies/schema.cedarschema';

test('warden policy check: ok, fallback reported, invalid policy fails with exit 1', async () => {
  const ok = await run('policy', 'check', 'examples/policies/residency.cedar', '--schema', schema, '--format', 'json');
  assert.equal(ok.code, 0, ok.stderr);
  const r = JSON.parse(ok.stdout);
  assert.equal(r.ok, true);
  assert.equal(r.evaluator, 'compiled');
  assert.equal(r.policyCount, 5);

  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-cli-'));
  try {
    writeFileSync(join(dir, 'dt.cedar'), 'permit(principal, action, resource) when { datetime("2026-01-01") < datetime("2027-01-01") };');
    const fb = await run('policy', 'check', join(dir, 'dt.cedar'));
    assert.equal(fb.code, 0);
    assert.match(fb.stdout, /fallback: evaluated by cedar-wasm/);
    assert.match(fb.stdout, /datetime/);

    writeFileSync(join(dir, 'bad.cedar'), 'permit(principal, action == Action::"fly", resource);');
    const bad = await run('policy', 'check', join(dir, 'bad.cedar'), '--schema', schema, '--format', 'json');
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.stdout).error.code, 'WARDEN_POLICY_VALIDATION_FAILED');

    // Offline check refuses what push would: ids reserved for the permits of API key scopes.
    writeFileSync(join(dir, 'reserved.cedar'), '@id("key-scope:key_abc:echo") permit(principal, action, resource);');
    const reserved = await run('policy', 'check', join(dir, 'reserved.cedar'), '--format', 'json');
    assert.equal(reserved.code, 1);
    assert.equal(JSON.parse(reserved.stdout).error.code, 'WARDEN_POLICY_ID_RESERVED');

    // A comment ended by a bare CR (as Cedar reads it) does not swallow the forbid after it.
    writeFileSync(join(dir, 'cr.cedar'), 'permit(principal, action, resource);\n// contractors are never allowed\rforbid(principal in Group::"contractors", action, resource);\n');
    const cr = await run('policy', 'check', join(dir, 'cr.cedar'), '--format', 'json');
    assert.equal(cr.code, 0, cr.stdout);
    assert.deepEqual(JSON.parse(cr.stdout).policies.map((p: { effect: string }) => p.effect), ['permit', 'forbid']);

    const missing = await run('policy', 'check', join(dir, 'nope.cedar'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^WARDEN_IO: /);
    assert.equal(missing.stdout, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warden policy explain (offline) and policy test', async () => {
  const e = await run(
    'policy', 'explain', '--policies', 'examples/policies/residency.cedar', '--entities', 'examples/policies/residency.entities.json',
    '--principal', 'User::"alice"', '--principal-parent', 'Group::"analysts"', '--action', 'invoke', '--resource', 'Model::"sandbox-llm"',
    '--context', '{"region":"eu-west-1","classification":"restricted","mfa":true,"sourceIp":{"__extn":{"fn":"ip","arg":"10.0.0.1"}},"time":0}', '--format', 'json',
  );
  assert.equal(e.code, 0, e.stderr);
  const x = JSON.parse(e.stdout);
  assert.equal(x.decision, 'deny');
  assert.equal(x.reason, 'forbidden');
  assert.equal(x.determining[0].id, 'no-restricted-data');
  assert.match(x.determining[0].text, /forbid/);
  const badCtx = await run('policy', 'explain', '--policies', 'examples/policies/demo.cedar', '--principal', 'ApiKey::"demo"', '--action', 'invoke', '--resource', 'Model::"iris"', '--context', '[1]');
  assert.equal(badCtx.code, 2);
  assert.match(badCtx.stderr, /^WARDEN_USAGE/);

  const t = await run('policy', 'test', 'examples/policies/residency.test.yaml');
  assert.equal(t.code, 0, t.stdout);
  assert.match(t.stdout, /6 passed, 0 failed/);
});

test('warden policy import-iam flags the Resource "*" grant; analyze --fail-on', async () => {
  const r = await run('policy', 'import-iam', 'examples/policies/sagemaker-iam.json', '--schema', schema, '--format', 'json');
  assert.equal(r.code, 1); // something was not translated and a high finding exists
  const j = JSON.parse(r.stdout);
  assert.ok(j.analysis.findings.some((f: { rule: string; policyId: string; severity: string }) => f.rule === 'wildcard-resource' && f.policyId === 'iam-MLPlatformAll' && f.severity === 'high'));
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-cli-'));
  try {
    writeFileSync(join(dir, 'p.cedar'), j.cedar);
    const a = await run('policy', 'analyze', '--policies', join(dir, 'p.cedar'));
    assert.equal(a.code, 1);
    assert.match(a.stdout, /wildcard-resource/);
    const quiet = await run('policy', 'analyze', '--policies', 'examples/policies/demo.cedar', '--format', 'json');
    assert.equal(quiet.code, 0, quiet.stdout);
    writeFileSync(join(dir, 'audit.jsonl'), `${JSON.stringify({ ts: new Date().toISOString(), kind: 'decision', principal: 'ApiKey::"demo"', action: 'invoke', resource: 'Model::"iris"', decision: 'allow', policies: ['demo-invoke-iris'] })}\n`);
    const used = await run('policy', 'analyze', '--policies', 'examples/policies/demo.cedar', '--audit', join(dir, 'audit.jsonl'), '--days', '30', '--fail-on', 'low', '--format', 'json');
    assert.equal(used.code, 1); // demo-invoke-echo is unused (low)
    assert.deepEqual(JSON.parse(used.stdout).usage, { 'demo-invoke-iris': 1, 'demo-invoke-echo': 0 });
    writeFileSync(join(dir, 'broken.jsonl'), 'not json\n');
    const broken = await run('policy', 'analyze', '--policies', 'examples/policies/demo.cedar', '--audit', join(dir, 'broken.jsonl'));
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /^WARDEN_POLICY_AUDIT_INVALID: .*:1: not JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

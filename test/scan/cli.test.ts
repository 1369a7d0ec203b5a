import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runWardenAsync, runWardenInProcess, type CliResult } from './helpers/cli.js';
import { P } from './helpers/scanBytes.js';
import { safetensors } from './helpers/writers.js';

describe('warden scan (CLI contract)', () => {
  let dir = '';
  let evil = '';
  let unknown = '';
  let clean = '';
  let realProcess: Promise<CliResult>;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-scan-cli-'));
    mkdirSync(join(dir, 'models'));
    evil = join(dir, 'models', 'evil.pkl');
    writeFileSync(evil, P.cat(P.proto(2), P.global('os', 'system'), P.binunicode('id'), P.op(0x85, 'R', '.')));
    unknown = join(dir, 'models', 'sk.pkl');
    writeFileSync(unknown, P.cat(P.proto(2), P.global('sklearn.tree', 'DecisionTreeClassifier'), P.op(')', 0x81, '.')));
    clean = join(dir, 'clean.safetensors');
    writeFileSync(clean, safetensors([{ name: 'w', dtype: 'F32', shape: [2], bytes: 8 }]));
    // The real `warden` process starts now and runs while the in-process tests below load main().
    realProcess = runWardenAsync(['scan', join(dir, 'models'), clean, '--format', 'json']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--fail-on decides the exit code', async () => {
    assert.equal((await runWardenInProcess(['scan', unknown, '--format', 'json'])).status, 0);
    assert.equal((await runWardenInProcess(['scan', unknown, '--fail-on', 'medium', '--format', 'json'])).status, 1);
    assert.equal((await runWardenInProcess(['scan', evil, '--fail-on', 'none', '--format', 'json'])).status, 0);
    assert.equal((await runWardenInProcess(['scan', clean, '--fail-on', 'info'])).status, 0);
    assert.equal((await runWardenInProcess(['scan', unknown], { WARDEN_SCAN_FAIL_ON: 'medium' })).status, 1);
  });

  it('--no-hash leaves sha256 null', async () => {
    const r = (await runWardenInProcess(['scan', clean, '--no-hash', '--format', 'json']));
    assert.equal(JSON.parse(r.stdout).files[0].sha256, null);
  });

  it('prints SARIF and text', async () => {
    const sarif = JSON.parse((await runWardenInProcess(['scan', evil, '--format', 'sarif'])).stdout);
    assert.equal(sarif.version, '2.1.0');
    assert.equal(sarif.runs[0].results[0].ruleId, 'pickle/dangerous-global');
    const text = (await runWardenInProcess(['scan', evil]));
    assert.equal(text.status, 1);
    assert.match(text.stdout, /CRITICAL pickle\/dangerous-global/);
  });

  it('exits 2 with one WARDEN_ line on usage and input errors, printing nothing on stdout', async () => {
    const missing = await runWardenInProcess(['scan', join(dir, 'nope.pt'), clean, '--format', 'json']);
    assert.equal(missing.status, 2);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^WARDEN_SCAN_PATH_NOT_FOUND: no such file or directory: .*nope\.pt\n$/);
    const badSeverity = (await runWardenInProcess(['scan', clean, '--fail-on', 'severe']));
    assert.equal(badSeverity.status, 2);
    assert.match(badSeverity.stderr, /^WARDEN_SCAN_BAD_SEVERITY: /);
    const badFormat = (await runWardenInProcess(['scan', clean, '--format', 'xml']));
    assert.equal(badFormat.status, 2);
    assert.match(badFormat.stderr, /^WARDEN_USAGE: /);
    const noPath = (await runWardenInProcess(['scan']));
    assert.equal(noPath.status, 2);
    assert.match(noPath.stderr, /^WARDEN_USAGE: /);
  });
  it('prints the JSON report and exits 1 on a critical finding (real process)', async () => {
    const r = await realProcess;
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, '');
    const report = JSON.parse(r.stdout) as { files: { path: string; format: string; sha256: string; findings: { rule: string; severity: string; message: string; location: string }[] }[]; summary: { files: number; findings: number; bySeverity: Record<string, number> } };
    assert.deepEqual(Object.keys(report).sort(), ['files', 'summary']);
    assert.deepEqual(report.files.map((f) => f.path), [evil, unknown, clean]);
    const e = report.files[0]!;
    assert.deepEqual(Object.keys(e).sort(), ['findings', 'format', 'path', 'sha256']);
    assert.equal(e.sha256, createHash('sha256').update(readFileSync(evil)).digest('hex'));
    assert.deepEqual(Object.keys(e.findings[0]!).sort(), ['location', 'message', 'rule', 'severity']);
    assert.equal(e.findings[0]!.severity, 'critical');
    assert.deepEqual(report.summary, { files: 3, findings: 2, bySeverity: { critical: 1, high: 0, medium: 1, low: 0, info: 0 } });
  });
});

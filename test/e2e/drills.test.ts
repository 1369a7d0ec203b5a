import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startWardenProcess, wardenClient, runCli, removeDir, tempDataDir, type WardenProcess } from '../helpers/warden.js';
import { readAuditRecords } from '../helpers/audit.js';
import type { DrillReport, IncidentWithTimeline } from '../../src/respond/index.js';

let warden: WardenProcess;
let dataDir: string;
let env: Record<string, string>;
const reports = new Map<string, DrillReport>();

async function drill(scenario: string, ...extra: string[]): Promise<{ code: number | null; report: DrillReport; stderr: string }> {
  const r = await runCli(['--data-dir', dataDir, 'drill', scenario, '--format', 'json', ...extra], { env });
  let report: DrillReport;
  try {
    report = JSON.parse(r.stdout) as DrillReport;
  } catch {
    throw new Error(`drill ${scenario} printed no JSON (exit ${r.code}); stderr: ${r.stderr}`);
  }
  reports.set(scenario, report);
  return { code: r.code, report, stderr: r.stderr };
}

async function admin<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const c = wardenClient(warden.ready.caBundle);
  try {
    const r = await c.call(method, warden.ready.adminUrl + path, { headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, json: r.json as T };
  } finally {
    await c.close();
  }
}

before(async () => {
  dataDir = tempDataDir('warden-drills-');
  warden = await startWardenProcess({ dataDir, timeoutMs: 120_000 });
  env = { WARDEN_ADMIN_TOKEN: warden.ready.adminToken! };
});

after(async () => {
  await warden?.stop();
  removeDir(dataDir);
});

function assertContained(report: DrillReport): void {
  assert.equal(report.error, undefined, JSON.stringify(report.error));
  assert.ok(report.incidentId, 'an incident was opened');
  assert.ok(report.before.succeeded > 0, 'the attacker got through before containment (the drill is real)');
  assert.ok(report.after.sent > 0, 'the attacker kept trying after containment');
  assert.equal(report.leaksAfterContainment, 0, 'nothing got through after containment');
  assert.ok(report.timeToContainMs !== null && report.timeToContainMs >= 0);
  for (const c of report.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  assert.equal(report.ok, true);
}

test('warden drill leaked-key: revoked at the gateway within 2 s of detection, nothing after, every step recorded', async () => {
  const { code, report } = await drill('leaked-key');
  assertContained(report);
  assert.equal(code, 0);
  assert.equal(report.detection, 'report');
  assert.equal(report.containBudgetMs, 2000);
  assert.ok(report.timeToContainMs! <= 2000, `contained in ${report.timeToContainMs} ms`);
  assert.ok(report.timeToDetectMs !== null && report.timeToDetectMs < 2000);

  const { json } = await admin<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${report.incidentId}`);
  const inc = json.incident;
  assert.equal(inc.rule, 'leaked-api-key');
  assert.equal(inc.drill, true);
  assert.equal(inc.state, 'closed', 'the drill closes its incident');
  const states = inc.timeline.filter((e) => e.kind === 'state').map((e) => e.details.to ?? e.details.state);
  assert.deepEqual(states, ['open', 'contained', 'closed']);
  const step = inc.timeline.find((e) => e.kind === 'action' && e.summary.startsWith('block-api-key: revoked'));
  assert.ok(step, 'the revocation is on the timeline');
  assert.equal(step.actor, 'Rule::"leaked-api-key"');
  const keyId = inc.target.key!;
  assert.match(keyId, /^key_/);

  // The key is revoked in the store and the PEP refuses it (the drill saw 401s; the list agrees).
  const keys = await admin<{ keys: { id: string; revokedAt: string | null }[] }>('GET', '/api/v1/keys');
  assert.ok(keys.json.keys.find((k) => k.id === keyId)?.revokedAt, 'the leaked key is revoked');

  // Evidence was saved under the incident with a manifest of digests.
  const evidenceDir = join(dataDir, 'evidence', report.incidentId!);
  assert.ok(existsSync(evidenceDir));
  const snap = readdirSync(evidenceDir).filter((n) => !n.startsWith('.'));
  assert.equal(snap.length, 1);
  const manifest = JSON.parse(readFileSync(join(evidenceDir, snap[0]!, 'manifest.json'), 'utf8')) as { files: Record<string, { sha256: string }> };
  assert.deepEqual(Object.keys(manifest.files).sort(), ['audit.jsonl', 'checkpoint.json', 'metrics.txt']);
});

test('warden drill extraction: random queries are detected by the gateway guard itself, the principal is blocked, nothing after', async () => {
  const { code, report } = await drill('extraction');
  assertContained(report);
  assert.equal(code, 0);
  // The real detector raised the alarm (the drill posts no simulated one), measured from the first attack query.
  assert.equal(report.detection, 'pep');
  assert.ok(report.timeToDetectMs !== null && report.timeToDetectMs >= 0 && report.timeToDetectMs < 10_000, `time to detect ${report.timeToDetectMs}`);
  const refused = report.checks.find((c) => c.name === 'attacker refused after a few answers');
  assert.match(refused?.detail ?? '', /WARDEN_GUARD_EXTRACTION/);
  // Tramèr-style random queries leave the training distribution: a handful of answers, not hundreds.
  assert.ok(report.before.succeeded < 20, `${report.before.succeeded} answers before detection`);
  const { json } = await admin<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${report.incidentId}`);
  const alert = json.incident.timeline.find((e) => e.kind === 'alert');
  assert.ok(alert, 'alert on the incident timeline');
  assert.notEqual((alert.details as Record<string, unknown>).signal, 'drill', 'the alarm came from the detector, not from the drill');
  assert.notEqual((alert.details as Record<string, unknown>).drill, true);
});

test('warden drill compromised-worker: Warden itself spots the SVID at a new address, quarantines it, nothing after; renewal refused, serial on the CRL', async () => {
  const { code, report } = await drill('compromised-worker');
  assert.equal(report.error, undefined, JSON.stringify(report.error));
  for (const c of report.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  assert.equal(report.ok, true);
  assert.equal(code, 0);
  const names = report.checks.map((c) => c.name);
  for (const n of ['Warden detected the SVID at a new address', 'the alert names the SPIFFE ID, serial and new address', 'attacker refused as revoked', 'nothing got through after containment', 'renewal refused', 'CRL lists the serial', 'incident contained', 'timeline records the containment steps', 'audit log records each step']) {
    assert.ok(names.includes(n), `check ${n} ran`);
  }
  // Detected by the control plane, not by an alarm the drill raised.
  assert.equal(report.detection, 'control-plane');
  assert.ok(report.worker && report.worker.succeeded >= 5 && report.worker.succeeded === report.worker.sent, `the worker used its SVID from 127.0.0.1 first: ${JSON.stringify(report.worker)}`);
  assert.ok(report.timeToDetectMs !== null && report.timeToDetectMs >= 0 && report.timeToDetectMs < 5000, `time to detect ${report.timeToDetectMs}`);
  assert.ok(report.timeToContainMs !== null && report.timeToContainMs >= 0 && report.timeToContainMs < 5000, `time to contain ${report.timeToContainMs}`);
  // The request from the new address is held until the runbook ran: the stolen SVID never got an answer.
  assert.equal(report.before.succeeded, 0, `the attacker got ${report.before.succeeded} answers before containment`);
  assert.ok(report.after.sent > 0, 'the attacker kept trying after containment');
  assert.equal(report.leaksAfterContainment, 0);

  const { json } = await admin<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${report.incidentId}`);
  const inc = json.incident;
  assert.equal(inc.rule, 'svid-new-address');
  assert.equal(inc.severity, 'critical');
  assert.equal(inc.drill, true, 'a /drill/ identity is labelled as a drill');
  const alert = inc.timeline.find((e) => e.kind === 'alert');
  assert.ok(alert);
  assert.equal(alert.actor, 'Rule::"svid-new-address"');
  const d = alert.details as Record<string, unknown>;
  assert.equal(d.detector, 'svid-new-address');
  assert.equal(d.address, '127.0.0.2');
  assert.equal(d.knownAddresses, '127.0.0.1');
  assert.equal(d.learnedFrom, 'first-use', 'admin-issued SVID: learned from its first use, not from the operator');
  assert.match(String(d.serial), /^[0-9a-f]+$/);
  assert.notEqual(d.signal, 'drill', 'no simulated alarm');
  assert.equal(inc.target.spiffeId, d.spiffeId);
  const step = inc.timeline.find((e) => e.kind === 'action' && e.summary.startsWith('quarantine-workload: revoked'));
  assert.ok(step, 'the quarantine is on the timeline');

  // The SVID list agrees: every SVID of the worker is revoked. No key material anywhere on the incident.
  const svids = await admin<{ svids: { serial: string; spiffeId: string; revoked: boolean }[] }>('GET', `/api/v1/identity/svids?spiffeId=${encodeURIComponent(String(d.spiffeId))}`);
  assert.ok(svids.json.svids.length >= 1 && svids.json.svids.every((x) => x.revoked));
  assert.ok(!/PRIVATE KEY|BEGIN CERTIFICATE/.test(JSON.stringify(inc)), 'no key or certificate on the incident');
  await admin('POST', '/api/v1/audit/checkpoint');
  const records = await readAuditRecords(dataDir);
  const alarm = records.find((r) => r.action === 'detector.alarm.received' && (r.details as Record<string, unknown> | undefined)?.detector === 'svid-new-address');
  assert.ok(alarm, 'the alarm is in the audit log');
  assert.equal(alarm.sourceIp, '127.0.0.2');
  assert.ok(!/PRIVATE KEY/.test(JSON.stringify(records)), 'no private key in any audit record');
});

test('warden drill poisoned-dataset without a dataset is a usage error (exit 1 with a code, no incident)', async () => {
  const { code, report } = await drill('poisoned-dataset');
  assert.equal(code, 1);
  assert.equal(report.ok, false);
  assert.equal(report.error?.code, 'WARDEN_USAGE');
  assert.equal(report.incidentId, null);
});

test('warden drill with an unknown scenario exits 2 with WARDEN_RESPOND_DRILL_UNKNOWN', async () => {
  const r = await runCli(['--data-dir', dataDir, 'drill', 'meteor-strike'], { env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_RESPOND_DRILL_UNKNOWN: /);
});

test('the audit log holds every incident step and never the leaked key', async () => {
  const leaked = reports.get('leaked-key');
  assert.ok(leaked?.incidentId);
  // Flush: a checkpoint forces queued records to storage.
  await admin('POST', '/api/v1/audit/checkpoint');
  const records = await readAuditRecords(dataDir);
  const mine = records.filter((r) => r.resource === `Incident::${JSON.stringify(leaked.incidentId)}`);
  const actions = mine.map((r) => r.action);
  for (const a of ['incident.open', 'runbook.plan', 'runbook.step.applied', 'incident.contained', 'incident.closed']) assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
  assert.ok(records.some((r) => r.action === 'leak.report'));
  const all = JSON.stringify(records);
  assert.ok(!/wdn_[a-z0-9]{12}_[A-Za-z0-9_-]{43}/.test(all), 'no API key in any audit record');
});

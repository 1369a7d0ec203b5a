import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startWardenProcess, removeDir, tempDataDir, type WardenProcess } from '../helpers/warden.js';
import { readAuditRecords } from '../helpers/audit.js';
import {
  admissionConfigYaml,
  artifactCli,
  cliFails,
  cliOk,
  deployModelFiles,
  errorCodeOf,
  inferUntil,
  registerDataset,
  registerModel,
  restartModelServer,
  startModelServer,
  trainIrisModel,
  writeDataset,
  type CliResult,
  type ModelServerProcess,
} from '../helpers/artifacts.js';
import type { DrillReport, IncidentWithTimeline } from '../../src/respond/index.js';

/**
 * Issue #10, end to end: a dataset version is declared poisoned (`warden drill poisoned-dataset`).
 * Lineage: iris-train@1 → run train-1 → iris@1 (approved); iris-train@2 → train-2 → iris@2
 * (serving), train-3 → iris@3 (candidate), train-s → iris-small@1 (serving, no clean version).
 * The runbook must freeze iris-train@2, list exactly the three derived versions, revoke them,
 * put iris back on iris@1 and leave iris-small with nothing serving; the gateway follows.
 */

let warden: WardenProcess;
let server: ModelServerProcess;
let cli: (args: string[]) => Promise<CliResult>;
let work: string;
let report: DrillReport;
const dirs = { v1: '', v2: '', v3: '', v4: '', small: '', served: '', clean: '', poisoned: '' };

const CLEAN_ROWS = ['5.1,3.5,1.4,0.2,setosa', '7.0,3.2,4.7,1.4,versicolor', '6.3,3.3,6.0,2.5,virginica'];
// The same rows with a flipped label: a classic label-flipping poisoning.
const POISONED_ROWS = ['5.1,3.5,1.4,0.2,virginica', '7.0,3.2,4.7,1.4,versicolor', '6.3,3.3,6.0,2.5,virginica'];

before(async () => {
  work = tempDataDir('warden-poisoned-');
  for (const k of ['v1', 'v2', 'v3', 'v4', 'small', 'served'] as const) dirs[k] = join(work, k);
  dirs.clean = join(work, 'ds-1');
  dirs.poisoned = join(work, 'ds-2');
  writeDataset(dirs.clean, CLEAN_ROWS);
  writeDataset(dirs.poisoned, POISONED_ROWS);
  await Promise.all([trainIrisModel(dirs.v1, 200), trainIrisModel(dirs.v2, 400), trainIrisModel(dirs.v3, 500), trainIrisModel(dirs.v4, 600), trainIrisModel(dirs.small, 50)]);
  deployModelFiles(dirs.v2, dirs.served);
  server = await startModelServer(dirs.served);
  mkdirSync(join(work, 'data'));
  warden = await startWardenProcess({ dataDir: join(work, 'data'), configYaml: admissionConfigYaml(server.url), timeoutMs: 120_000 });
  cli = artifactCli(warden);
});

after(async () => {
  await warden?.stop();
  await server?.stop();
  if (work) removeDir(work);
});

test('setup through the CLI: datasets, training lineage, iris@2 serving and answering through the gateway', async () => {
  await registerDataset(cli, dirs.clean, 'iris-train', '1');
  await registerDataset(cli, dirs.poisoned, 'iris-train', '2');
  await registerModel(cli, { dir: dirs.v1, name: 'iris', version: '1', run: 'train-1', inputs: ['iris-train@1'], stage: 'approved' });
  await registerModel(cli, { dir: dirs.v2, name: 'iris', version: '2', run: 'train-2', inputs: ['iris-train@2'], stage: 'serving' });
  await registerModel(cli, { dir: dirs.v3, name: 'iris', version: '3', run: 'train-3', inputs: ['iris-train@2'], stage: 'candidate' });
  await registerModel(cli, { dir: dirs.small, name: 'iris-small', version: '1', run: 'train-s', inputs: ['iris-train@2'], stage: 'serving' });
  const br = await cliOk<{ models: { key: string }[]; deployments: { key: string; servingAffected: boolean }[] }>(cli, ['artifact', 'blast-radius', 'iris-train@2', '--format', 'json']);
  assert.deepEqual(br.models.map((m) => m.key).sort(), ['model:iris-small@1', 'model:iris@2', 'model:iris@3']);
  assert.deepEqual(br.deployments.filter((d) => d.servingAffected).map((d) => d.key).sort(), ['deployment:iris', 'deployment:iris-small']);
  const r = await inferUntil(warden, (x) => x.status === 200);
  assert.equal(r.status, 200, r.text);
});

test('warden drill poisoned-dataset: incident contained, dataset frozen, blast radius listed, serving rolled back, time to contain measured', async () => {
  const r = await cli(['drill', 'poisoned-dataset', '--dataset', 'iris-train@2', '--keep-open', '--format', 'json']);
  report = JSON.parse(r.stdout) as DrillReport;
  assert.equal(report.error, undefined, JSON.stringify(report.error));
  for (const c of report.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(report.ok, true);
  const names = report.checks.map((c) => c.name);
  for (const want of ['poisoning alarm opens an incident', 'runbook completed', 'incident contained', 'dataset frozen', 'blast radius recorded', 'derived model versions revoked', 'serving rolled back', 'audit log records each step']) {
    assert.ok(names.includes(want), `check ${want} in ${names.join(', ')}`);
  }
  assert.ok(report.timeToContainMs !== null && report.timeToContainMs >= 0, 'time to contain measured');
  assert.deepEqual(report.models!.blastRadius.sort(), ['iris-small@1', 'iris@2', 'iris@3']);
  assert.deepEqual(report.models!.revoked.sort(), ['iris-small@1', 'iris@2', 'iris@3']);
  assert.deepEqual(
    [...report.models!.rolledBack].sort((a, b) => a.model.localeCompare(b.model)),
    [
      { model: 'iris', from: 'iris@2', to: 'iris@1' },
      { model: 'iris-small', from: 'iris-small@1', to: null },
    ],
  );
  const text = await cli(['drill', 'poisoned-dataset', '--dataset', 'iris-train@2', '--keep-open']);
  assert.equal(text.code, 0, text.stdout);
  assert.match(text.stdout, /drill poisoned-dataset: PASS/);
  assert.match(text.stdout, /rolled back\s+iris@2 → iris@1/, 'a second run joins the open incident and still reports what was rolled back');
});

test('the registry afterwards: iris back on iris@1 (not derived from the poisoned data), iris-small has nothing serving', async () => {
  const iris = await cliOk<{ versions: { version: string; stage: string; revoked: boolean; revokedReason: string | null }[] }>(cli, ['artifact', 'show', 'iris', '--format', 'json']);
  assert.deepEqual(iris.versions.map((v) => [v.version, v.stage, v.revoked]), [['1', 'serving', false], ['2', 'retired', true], ['3', 'candidate', true]]);
  assert.match(iris.versions[1]!.revokedReason ?? '', /poisoned dataset iris-train@2/);
  const small = await cliOk<{ versions: { stage: string; revoked: boolean }[] }>(cli, ['artifact', 'show', 'iris-small', '--format', 'json']);
  assert.deepEqual(small.versions.map((v) => [v.stage, v.revoked]), [['retired', true]]);
  const list = await cliOk<{ artifacts: { name: string; serving: string | null }[] }>(cli, ['artifact', 'list', '--kind', 'model', '--format', 'json']);
  assert.equal(list.artifacts.find((a) => a.name === 'iris-small')?.serving, null);
});

test('frozen: no new model from iris-train@2 is registered or promoted; the clean dataset is unaffected', async () => {
  const fresh = await cliFails(cli, ['artifact', 'add', dirs.v4, '--name', 'iris', '--version', '4', '--scan', '--run', 'train-4', '--input', 'iris-train@2']);
  assert.equal(fresh.errorCode, 'WARDEN_ARTIFACT_DATASET_FROZEN', fresh.stderr);
  // The revoked iris@3 bytes do not come back under a new version, lineage or not.
  const again = await cliFails(cli, ['artifact', 'add', dirs.v3, '--name', 'iris', '--version', '6', '--scan']);
  assert.equal(again.errorCode, 'WARDEN_ARTIFACT_REVOKED', again.stderr);
  // Registered without lineage, then SLSA provenance naming the frozen dataset: refused too.
  await cliOk(cli, ['artifact', 'add', dirs.v4, '--name', 'iris', '--version', '5', '--scan', '--format', 'json']);
  const prov = await cliFails(cli, ['artifact', 'provenance', 'iris@5', '--run', 'train-5', '--dataset', 'iris-train@2', '--code-digest', 'gitCommit:0123abcd', '--builder', 'spiffe://warden.local/train/job-5']);
  assert.equal(prov.errorCode, 'WARDEN_ARTIFACT_DATASET_FROZEN', prov.stderr);
  const revoked = await cliFails(cli, ['artifact', 'promote', 'iris@3', '--to', 'approved']);
  assert.equal(revoked.errorCode, 'WARDEN_ARTIFACT_REVOKED', revoked.stderr);
  // The freeze is scoped: a model from the clean version still goes all the way.
  await registerModel(cli, { dir: dirs.v4, name: 'iris-clean', version: '1', run: 'train-c', inputs: ['iris-train@1'], stage: 'approved' });
  const br = await cliOk<{ frozen: boolean | null }>(cli, ['artifact', 'blast-radius', 'iris-train@1', '--format', 'json']);
  assert.equal(br.frozen, false);
});

test('the gateway follows: the poisoned bytes are refused (revoked), the clean v1 files serve', async () => {
  const refused = await inferUntil(warden, (x) => errorCodeOf(x) === 'WARDEN_ADMISSION_REVOKED');
  assert.equal(refused.status, 403, refused.text);
  assert.equal(errorCodeOf(refused), 'WARDEN_ADMISSION_REVOKED');
  deployModelFiles(dirs.v1, dirs.served);
  server = await restartModelServer(server, dirs.served);
  const ok = await inferUntil(warden, (x) => x.status === 200);
  assert.equal(ok.status, 200, ok.text);
});

test('incident timeline and audit log show each step', async () => {
  const shown = await cliOk<{ incident: IncidentWithTimeline } | IncidentWithTimeline>(cli, ['incident', 'show', report.incidentId!, '--format', 'json']);
  const incident = 'incident' in shown ? shown.incident : shown;
  assert.equal(incident.state, 'contained');
  assert.equal(incident.drill, true);
  const applied = incident.timeline.filter((e) => e.kind === 'action' && e.summary.includes(': ')).map((e) => e.summary.split(':')[0]);
  for (const step of ['freeze-dataset', 'blast-radius', 'rollback-affected-models']) assert.ok(applied.includes(step), `timeline has ${step}: ${applied.join(', ')}`);
  assert.ok(incident.timeline.some((e) => e.summary.includes('iris@2 → iris@1')), 'the rollback is on the timeline');
  await warden.stop();
  const records = await readAuditRecords(warden.dataDir);
  const mine = records.filter((r) => r.resource === `Incident::${JSON.stringify(report.incidentId)}`).map((r) => r.action);
  for (const a of ['incident.open', 'runbook.step.applied', 'incident.contained']) assert.ok(mine.includes(a), `audit ${a} in ${mine.join(', ')}`);
  assert.ok(records.some((r) => r.model === 'iris' && r.decision === 'deny' && r.code === 'WARDEN_ADMISSION_REVOKED'), 'the refusal is audited');
});

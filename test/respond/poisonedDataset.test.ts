import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WardenError } from '../../src/errors/index.js';
import { isDatasetFrozen, type ModelRegistryPort } from '../../src/respond/index.js';
import { respondFixture, type RespondFixture } from './fixture.js';

/**
 * An in-memory registry with the ArtifactRegistry semantics respond relies on (rollback picks
 * the latest approved, unrevoked version; the old serving version retires). The real registry
 * is covered by the artifacts tests; this pins what the runbook does with it.
 */
class MemoryRegistry implements ModelRegistryPort {
  versions = new Map<string, { version: string; stage: string; revoked: boolean; inputs: string[] }[]>();
  calls: string[] = [];
  add(model: string, version: string, stage: string, inputs: string[]) {
    const list = this.versions.get(model) ?? [];
    list.push({ version, stage, revoked: false, inputs });
    this.versions.set(model, list);
  }
  async show(name: string) {
    const v = this.versions.get(name);
    if (!v) throw new WardenError('WARDEN_NOT_FOUND', 'no such model');
    return { name, kind: 'model', versions: v.map(({ version, stage, revoked }) => ({ version, stage, revoked })) };
  }
  async revoke(name: string, version: string) {
    this.calls.push(`revoke ${name}@${version}`);
    const v = this.versions.get(name)!.find((x) => x.version === version)!;
    v.revoked = true;
    if (v.stage === 'serving') v.stage = 'retired';
  }
  async rollback(name: string) {
    this.calls.push(`rollback ${name}`);
    const list = this.versions.get(name)!;
    const target = [...list].reverse().find((x) => x.stage === 'approved' && !x.revoked);
    if (!target) throw new WardenError('WARDEN_ARTIFACT_NO_ROLLBACK_TARGET', 'none');
    const cur = list.find((x) => x.stage === 'serving');
    if (cur) cur.stage = 'retired';
    target.stage = 'serving';
    return { from: cur ? `${name}@${cur.version}` : null, to: `${name}@${target.version}` };
  }
  async rollbackTarget(name: string) {
    return [...this.versions.get(name)!].reverse().find((x) => x.stage === 'approved' && !x.revoked)?.version ?? null;
  }
  async blastRadius(datasetRef: string) {
    const models = [...this.versions].flatMap(([name, vs]) => vs.filter((v) => v.inputs.includes(datasetRef)).map((v) => ({ key: `model:${name}@${v.version}`, name, version: v.version, stage: v.stage, revoked: v.revoked })));
    const deployments = [...this.versions].map(([name, vs]) => {
      const serving = vs.find((v) => v.stage === 'serving');
      return { name, servingVersion: serving?.version ?? null, servingAffected: !!serving?.inputs.includes(datasetRef) };
    });
    return { dataset: `dataset:${datasetRef}`, runs: [{ key: 'run:train-7' }], models, deployments };
  }
}

let f: RespondFixture;
const registry = new MemoryRegistry();

before(async () => {
  registry.add('fraud', '1.0', 'approved', ['txns@v1']);
  registry.add('fraud', '2.0', 'serving', ['txns@v2']);
  registry.add('churn', '5.0', 'serving', ['crm@v1']);
  f = await respondFixture({ models: registry });
});
after(async () => f?.close());

test('poisoned dataset: freeze, blast radius, roll the affected model back to its approved version; others untouched', async () => {
  let pushes = 0;
  const onChange = () => pushes++;
  f.events.on('snapshot:changed', onChange);
  const fired = await f.responder.alerts.onAlarm({ type: 'detector.alarm', detector: 'dataset-poisoned', details: { dataset: 'txns@v2' } });
  f.events.off('snapshot:changed', onChange);
  assert.equal(fired.length, 1);
  const run = fired[0]!.run!;
  assert.equal(run.ok, true, JSON.stringify(run));
  assert.deepEqual(run.steps.map((s) => [s.action, s.status]), [['freeze-dataset', 'applied'], ['blast-radius', 'applied'], ['rollback-affected-models', 'applied'], ['snapshot-evidence', 'applied']]);
  assert.equal(await isDatasetFrozen(f.db, 'txns@v2'), true);
  const fraud = (await registry.show('fraud')).versions;
  assert.deepEqual(fraud.map((v) => [v.version, v.stage, v.revoked]), [['1.0', 'serving', false], ['2.0', 'retired', true]]);
  assert.equal((await registry.show('churn')).versions[0]!.stage, 'serving');
  assert.deepEqual(registry.calls, ['revoke fraud@2.0', 'rollback fraud'], 'the bad version is revoked before the rollback');
  assert.ok(pushes >= 1, 'PEPs get the new serving version');
  const inc = await f.responder.incidents.show(fired[0]!.incidentId);
  assert.equal(inc.state, 'contained');
  assert.ok(inc.timeline.some((e) => e.summary.includes('serving affected: fraud@2.0')), 'the blast radius is on the timeline');

  // Idempotent: running the runbook again changes nothing.
  const again = await f.responder.engine.run({ runbook: f.responder.runbooks.get('poisoned-dataset'), target: { dataset: 'txns@v2' }, incidentId: inc.id, actor: 'Admin::"a"' });
  assert.equal(again.ok, true);
  assert.deepEqual(again.steps.filter((s) => s.action !== 'blast-radius' && s.action !== 'snapshot-evidence').map((s) => s.status), ['unchanged', 'unchanged']);
  assert.equal(registry.calls.length, 2);
});

test('a model with no clean approved version is left with nothing serving (its poisoned version revoked and retired)', async () => {
  const r = await f.responder.engine.run({ runbook: f.responder.runbooks.get('poisoned-dataset'), target: { dataset: 'crm@v1' }, incidentId: null, actor: 'Admin::"a"' });
  assert.equal(r.ok, true, JSON.stringify(r));
  const step = r.steps.find((s) => s.action === 'rollback-affected-models')!;
  assert.equal(step.status, 'applied');
  assert.match(step.summary ?? '', /churn@5\.0 → nothing serving/);
  assert.deepEqual((await registry.show('churn')).versions.map((v) => [v.version, v.stage, v.revoked]), [['5.0', 'retired', true]]);
  assert.equal(await isDatasetFrozen(f.db, 'crm@v1'), true);
});

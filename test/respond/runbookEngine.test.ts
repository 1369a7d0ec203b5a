import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WardenError } from '../../src/errors/index.js';
import { isDatasetFrozen, parseRunbook, type Action } from '../../src/respond/index.js';
import { respondFixture, type RespondFixture } from './fixture.js';

let f: RespondFixture;
let failNext = true;

/** A step that fails on demand, to prove compensation. */
const flaky: Action = {
  name: 'flaky',
  description: 'fails while failNext is set',
  async plan() {
    return { description: 'maybe fail', alreadyDone: false };
  },
  async apply() {
    if (failNext) throw new WardenError('WARDEN_UNAVAILABLE', 'downstream system is down');
    return { changed: true, summary: 'ok', details: {} };
  },
  async undo() {},
};

before(async () => {
  f = await respondFixture({ extraActions: [flaky] });
});
after(async () => f?.close());

const adminActor = 'Admin::"adm_test"';

async function newIncident() {
  return f.responder.incidents.open({ title: 'test', severity: 'high', openedBy: adminActor });
}

test('runbooks are validated: bad YAML, unknown keys, empty steps and missing target fields have codes', async () => {
  assert.throws(() => parseRunbook('name: [unclosed'), (e: WardenError) => e.code === 'WARDEN_RESPOND_RUNBOOK_INVALID');
  assert.throws(() => parseRunbook('name: x\nsteps: []\n'), (e: WardenError) => e.code === 'WARDEN_RESPOND_RUNBOOK_INVALID' && /steps/.test(e.message));
  assert.throws(() => parseRunbook('name: x\nsurprise: 1\nsteps: [{action: block-api-key}]\n'), (e: WardenError) => e.code === 'WARDEN_RESPOND_RUNBOOK_INVALID' && /surprise|Unrecognized/i.test(e.message));
  assert.throws(() => parseRunbook('name: x\nsteps: [{action: block-api-key}]\n' + '#'.repeat(70_000)), (e: WardenError) => e.code === 'WARDEN_RESPOND_RUNBOOK_INVALID');
  const rb = parseRunbook('name: x\nrequires: [key]\nsteps: [{action: block-api-key, with: {key: "{{target.key}}"}}]\n');
  const report = await f.responder.engine.run({ runbook: rb, target: {}, incidentId: null, actor: adminActor });
  assert.equal(report.ok, false);
  assert.equal(report.error?.code, 'WARDEN_RESPOND_ACTION_PARAMS');
  const unknown = await f.responder.engine.run({ runbook: parseRunbook('name: y\nsteps: [{action: launch-missiles}]\n'), target: {}, incidentId: null, actor: adminActor });
  assert.equal(unknown.error?.code, 'WARDEN_RESPOND_ACTION_UNKNOWN');
});

test('dry run plans and checks every step but changes nothing', async () => {
  const { record } = await f.keys.create({ name: 'dry-run-key' });
  let pushed = 0;
  const onChange = () => pushed++;
  f.events.on('snapshot:changed', onChange);
  const report = await f.responder.engine.run({ runbook: f.responder.runbooks.get('contain-leaked-key'), target: { key: record.id }, incidentId: null, actor: adminActor, dryRun: true });
  f.events.off('snapshot:changed', onChange);
  assert.equal(report.ok, true);
  assert.deepEqual(report.steps.map((s) => s.status), ['planned', 'planned']);
  assert.match(report.steps[0]!.description, new RegExp(`revoke API key ${record.id}`));
  assert.equal((await f.keys.find(record.id))!.revokedAt, null, 'the key is still active');
  assert.equal(pushed, 0, 'no snapshot push');
});

test('a plan that fails (unknown key) applies nothing', async () => {
  const { record } = await f.keys.create({ name: 'innocent' });
  const rb = parseRunbook(`name: two\nsteps:\n  - action: block-api-key\n    with: { key: ${record.id} }\n  - action: block-api-key\n    with: { key: key_doesnotexist00 }\n`);
  const report = await f.responder.engine.run({ runbook: rb, target: {}, incidentId: null, actor: adminActor });
  assert.equal(report.ok, false);
  assert.equal(report.error?.code, 'WARDEN_RESPOND_PRECONDITION');
  assert.equal((await f.keys.find(record.id))!.revokedAt, null, 'step 1 never ran');
});

test('apply revokes the key, pushes a snapshot, moves the incident to contained; a re-run is idempotent', async () => {
  const { record } = await f.keys.create({ name: 'leaky' });
  const incident = await newIncident();
  let pushed = 0;
  const onChange = () => pushed++;
  f.events.on('snapshot:changed', onChange);
  const report = await f.responder.engine.run({ runbook: f.responder.runbooks.get('contain-leaked-key'), target: { key: record.id }, incidentId: incident.id, actor: adminActor });
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.deepEqual(report.steps.map((s) => s.status), ['applied', 'applied']);
  assert.ok((await f.keys.find(record.id))!.revokedAt);
  assert.equal(pushed, 1);
  const shown = await f.responder.incidents.show(incident.id);
  assert.equal(shown.state, 'contained');
  assert.ok(shown.timeline.some((e) => e.kind === 'action' && e.summary === `block-api-key: revoked API key ${record.id}` && e.actor === adminActor));

  const again = await f.responder.engine.run({ runbook: f.responder.runbooks.get('contain-leaked-key'), target: { key: record.id }, incidentId: incident.id, actor: adminActor });
  assert.equal(again.ok, true);
  assert.equal(again.steps[0]!.status, 'unchanged');
  assert.equal(pushed, 1, 'nothing to push the second time');
  f.events.off('snapshot:changed', onChange);
});

test('a failing step undoes the steps already applied: nothing is left half-changed', async () => {
  const { record } = await f.keys.create({ name: 'half', principal: 'User::"mallory"' });
  const incident = await newIncident();
  const rb = parseRunbook(`name: partial
steps:
  - action: block-principal
    with: { principal: 'User::"mallory"' }
  - action: freeze-dataset
    with: { dataset: "{{target.dataset}}" }
  - action: flaky
`);
  failNext = true;
  const report = await f.responder.engine.run({ runbook: rb, target: { dataset: 'reviews@v3' }, incidentId: incident.id, actor: adminActor });
  assert.equal(report.ok, false);
  assert.equal(report.error?.code, 'WARDEN_RESPOND_STEP_FAILED');
  assert.match(report.error!.message, /step 3 \(flaky\) failed: downstream system is down/);
  assert.deepEqual(report.steps.map((s) => s.status), ['undone', 'undone', 'failed']);
  assert.equal((await f.keys.find(record.id))!.revokedAt, null, 'the key works again');
  assert.equal(await isDatasetFrozen(f.db, 'reviews@v3'), false, 'the dataset is not frozen');
  const shown = await f.responder.incidents.show(incident.id);
  assert.equal(shown.state, 'open', 'a failed run does not contain the incident');
  assert.equal(shown.timeline.filter((e) => e.summary.includes('undone after a later step failed')).length, 2);

  failNext = false;
  const retry = await f.responder.engine.run({ runbook: rb, target: { dataset: 'reviews@v3' }, incidentId: incident.id, actor: adminActor });
  assert.equal(retry.ok, true);
  assert.ok((await f.keys.find(record.id))!.revokedAt);
  assert.equal(await isDatasetFrozen(f.db, 'reviews@v3'), true);
});

test('an operator revocation made meanwhile is not undone by compensation', async () => {
  const { record } = await f.keys.create({ name: 'contested', principal: 'User::"eve"' });
  await f.keys.revoke(record.id, new Date(Date.now() - 60_000));
  const rb = parseRunbook(`name: contested\nsteps:\n  - action: block-api-key\n    with: { key: ${record.id} }\n  - action: flaky\n`);
  failNext = true;
  const report = await f.responder.engine.run({ runbook: rb, target: {}, incidentId: null, actor: adminActor });
  assert.equal(report.ok, false);
  assert.equal(report.steps[0]!.status, 'unchanged');
  assert.ok((await f.keys.find(record.id))!.revokedAt, 'still revoked');
  failNext = false;
});

test('quarantine-workload revokes a SPIFFE ID once and refuses foreign trust domains, the bare domain and the control plane', async () => {
  const rb = (id: string) => parseRunbook(`name: q\nsteps:\n  - action: quarantine-workload\n    with: { spiffeId: "${id}" }\n`);
  const ok = await f.responder.engine.run({ runbook: rb('spiffe://warden.test/ns/prod/worker'), target: {}, incidentId: null, actor: adminActor });
  assert.equal(ok.ok, true);
  assert.ok(f.revokedSpiffeIds.has('spiffe://warden.test/ns/prod/worker'));
  const again = await f.responder.engine.run({ runbook: rb('spiffe://warden.test/ns/prod/worker'), target: {}, incidentId: null, actor: adminActor });
  assert.equal(again.steps[0]!.status, 'unchanged');
  const foreign = await f.responder.engine.run({ runbook: rb('spiffe://evil.example/worker'), target: {}, incidentId: null, actor: adminActor });
  assert.equal(foreign.error?.code, 'WARDEN_RESPOND_PRECONDITION');
  const bare = await f.responder.engine.run({ runbook: rb('spiffe://warden.test'), target: {}, incidentId: null, actor: adminActor });
  assert.equal(bare.ok, false);
  // The control plane's own SVID: revoking it would cut every PEP off, so no runbook may.
  const own = await f.responder.engine.run({ runbook: rb('spiffe://warden.test/warden/server'), target: {}, incidentId: null, actor: adminActor });
  assert.equal(own.ok, false);
  assert.equal(own.error?.code, 'WARDEN_RESPOND_ACTION_PARAMS');
  assert.ok(!f.revokedSpiffeIds.has('spiffe://warden.test/warden/server'));
  assert.equal(f.revokedSpiffeIds.size, 1);
});

test('rollback-model without an artifact registry reports WARDEN_RESPOND_ACTION_UNAVAILABLE at plan time', async () => {
  const report = await f.responder.engine.run({ runbook: parseRunbook('name: rb\nsteps:\n  - action: rollback-model\n    with: { model: iris }\n'), target: {}, incidentId: null, actor: adminActor });
  assert.equal(report.error?.code, 'WARDEN_RESPOND_ACTION_UNAVAILABLE');
});

test('every step is in the audit log with the incident and the actor', async () => {
  const records = await f.auditRecords();
  const steps = records.filter((r) => r.action.startsWith('runbook.step.'));
  assert.ok(steps.some((r) => r.action === 'runbook.step.applied' && r.principal === adminActor && r.kind === 'admin'));
  assert.ok(steps.some((r) => r.action === 'runbook.step.undone'));
  assert.ok(steps.some((r) => r.action === 'runbook.step.failed' && r.decision === 'deny'));
  assert.ok(records.some((r) => r.action === 'incident.contained' && r.resource?.startsWith('Incident::')));
});

test('a run on an incident already past onSuccess (recovered) is still ok: the state stays, a warning says so', async () => {
  const { record } = await f.keys.create({ name: 'leaky-after-recovery' });
  const incident = await newIncident();
  await f.responder.incidents.transition(incident.id, 'recovered', adminActor);
  const report = await f.responder.engine.run({ runbook: f.responder.runbooks.get('contain-leaked-key'), target: { key: record.id }, incidentId: incident.id, actor: adminActor });
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.equal(report.steps[0]!.status, 'applied');
  assert.ok((await f.keys.find(record.id))!.revokedAt);
  assert.ok(report.warnings.some((w) => w.includes('recovered') && w.includes('contained')), JSON.stringify(report.warnings));
  assert.equal((await f.responder.incidents.get(incident.id)).state, 'recovered');
});

// Admin changes and the PEP snapshot: a change whose audit record cannot be written is refused
// before anything changes (a revocation goes ahead), and a snapshot rebuild that fails is reported to the change and retried soon.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden, type RunningWarden } from '../../src/server/index.js';
import { WardenError } from '../../src/errors/index.js';
import type { Database } from '../../src/store/index.js';
import { removeDir, tempDataDir } from '../helpers/warden.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createManifest } from '../../src/artifacts/index.js';
import { EventEmitter } from 'node:events';
import { SnapshotPublisher } from '../../src/server/SnapshotPublisher.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';

async function start(t: TestContext, overrides: Record<string, unknown> = {}) {
  const dataDir = tempDataDir('warden-snapshot-publish-');
  const config = loadConfig({ dataDir, env: {}, overrides: { 'server.port': 0, ...overrides } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false, gateway: false });
  t.after(async () => {
    await warden.close();
    removeDir(dataDir);
  });
  const token = warden.ready.adminToken!;
  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) => {
    const r = await warden.controlPlane.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, payload });
    return { status: r.statusCode, json: r.json() as Record<string, unknown> & { error?: { code: string; message: string } } };
  };
  return { warden, call };
}

/** The audit log refuses every record from now until the test ends (a full disk, a lost database). */
function failEveryAuditAppend(t: TestContext, warden: RunningWarden): void {
  const audit = warden.controlPlane.ctx.audit;
  const append = audit.append.bind(audit);
  audit.append = async () => {
    throw new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'injected audit failure');
  };
  t.after(() => {
    audit.append = append;
  });
}

/** The change was refused because its record could not be made durable. */
function refused(r: { status: number; json: { error?: { code: string } } }, what: string): void {
  assert.equal(r.status, 503, `${what}: ${JSON.stringify(r.json)}`);
  assert.equal(r.json.error?.code, 'WARDEN_AUDIT_WRITE_FAILED', what);
}

/** The key as the PEP snapshot (what the gateways enforce) has it, by id. */
function keyInSnapshot(warden: RunningWarden, id: string) {
  const snap = warden.controlPlane.snapshots.current();
  return snap ? [...snap.apiKeys.values()].find((k) => k.id === id) : undefined;
}

/** Promotion without signature, scan or approval: these tests are about the audit record, not the checks. */
const OPEN_PROMOTION = { 'artifacts.promotion.requireSignature': false, 'artifacts.promotion.requireScan': false, 'artifacts.promotion.requireApproval': false };

/** A model manifest for fresh bytes (each content gives its own digest). */
async function modelManifest(t: TestContext, content: string): Promise<unknown> {
  const dir = tempDataDir('warden-snapshot-model-');
  t.after(() => removeDir(dir));
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'weights.bin'), content);
  return createManifest(join(dir, 'model'), { kind: 'model' });
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('an admin change whose audit record cannot be made durable is refused (503 WARDEN_AUDIT_WRITE_FAILED) and nothing changes', async (t) => {
  const { warden, call } = await start(t);
  const ca = await call('GET', '/identity/ca');

  failEveryAuditAppend(t, warden);

  refused(await call('POST', '/keys', { name: 'unaudited', scopes: ['model:iris'] }), 'keys.create');
  assert.equal((await warden.controlPlane.ctx.db.query(`SELECT id FROM api_keys WHERE name = 'unaudited'`)).rows.length, 0, 'no key without its record');
  refused(await call('PUT', '/policies', { policies: '@id("all") permit(principal, action, resource);' }), 'policy.publish');
  assert.equal((await call('GET', '/policies')).json.error?.code, 'WARDEN_POLICY_NONE', 'nothing was published');
  const spiffeId = `spiffe://${warden.ca.trustDomain}/ns/a/sa/svc`;
  refused(await call('POST', '/identity/entries', { spiffeId, selectors: ['k8s:ns:a'] }), 'identity.entry.create');
  assert.deepEqual((await call('GET', '/identity/entries')).json.entries, []);
  refused(await call('POST', '/identity/ca/rotate', {}), 'identity.ca.rotate');
  assert.equal((await call('GET', '/identity/ca')).json.sequence, ca.json.sequence, 'the CA did not rotate');
});

test('revocations go ahead while the audit log cannot record them (an operator must be able to revoke a stolen key); grants are refused', async (t) => {
  const { warden, call } = await start(t);
  const created = await call('POST', '/keys', { name: 'stolen', scopes: ['model:iris'] });
  assert.equal(created.status, 201);
  const id = (created.json.record as { id: string }).id;
  const pep = await call('POST', '/pep/tokens', { name: 'edge-1' });
  assert.equal(pep.status, 201, JSON.stringify(pep.json));
  const spiffeId = `spiffe://${warden.ca.trustDomain}/ns/a/sa/svc`;

  const audit = warden.controlPlane.ctx.audit;
  const append = audit.append.bind(audit);
  const tried: string[] = [];
  audit.append = async (record) => {
    tried.push(`${record.action} ${String(record.details?.outcome)}`);
    throw new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'injected audit failure');
  };
  t.after(() => {
    audit.append = append;
  });

  // A failed append (the log is not failing closed yet).
  const revoked = await call('POST', '/keys/stolen/revoke');
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  assert.ok(keyInSnapshot(warden, id)?.revokedAt instanceof Date, 'the gateways no longer accept the key');
  assert.deepEqual(tried, ['keys.revoke attempted', 'keys.revoke committed'], 'both records were attempted');
  const create = await call('POST', '/keys', { name: 'unaudited', scopes: ['model:iris'] });
  assert.equal(create.status, 503);
  assert.equal(create.json.error?.code, 'WARDEN_AUDIT_WRITE_FAILED');
  assert.equal((await warden.controlPlane.ctx.db.query(`SELECT id FROM api_keys WHERE name = 'unaudited'`)).rows.length, 0);

  // The log failing closed (an earlier write failed): the same split.
  Object.defineProperty(audit, 'failingClosed', { configurable: true, get: () => true });
  t.after(() => delete (audit as { failingClosed?: boolean }).failingClosed);
  const pepRevoked = await call('POST', `/pep/tokens/${(pep.json as { id: string }).id}/revoke`);
  assert.equal(pepRevoked.status, 200, JSON.stringify(pepRevoked.json));
  const listed = ((await call('GET', '/pep/tokens')).json.tokens as { id: string; revokedAt: string | null }[]).find((x) => x.id === (pep.json as { id: string }).id);
  assert.ok(listed?.revokedAt, 'the PEP token is revoked');
  const svidRevoked = await call('POST', '/identity/revoke', { spiffeId, reason: 'compromised' });
  assert.equal(svidRevoked.status, 200, JSON.stringify(svidRevoked.json));
  assert.ok(warden.ca.revocations.hasSpiffeId(spiffeId));
  const pepCreate = await call('POST', '/pep/tokens', { name: 'edge-2' });
  assert.equal(pepCreate.status, 503);
  assert.equal(pepCreate.json.error?.code, 'WARDEN_AUDIT_WRITE_FAILED');
});

test('a failed snapshot rebuild fails the change that needed it (WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED) and is retried within seconds', async (t) => {
  const { warden, call } = await start(t);
  const db = warden.controlPlane.ctx.db as Database;
  const query = db.query.bind(db);
  let failBuild = false;
  // The snapshot builder's read of every key fails (a store outage that hits only the rebuild).
  db.query = (async (sql: string, params?: readonly unknown[]) => {
    if (failBuild && sql.startsWith('SELECT * FROM api_keys ORDER BY')) throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'injected store failure');
    return query(sql, params);
  }) as Database['query'];
  t.after(() => {
    db.query = query;
  });

  failBuild = true;
  const created = await call('POST', '/keys', { name: 'late', scopes: ['model:iris'] });
  assert.equal(created.status, 503, JSON.stringify(created.json));
  assert.equal(created.json.error?.code, 'WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED');
  assert.match(created.json.error!.message, /change was saved.*WARDEN_STORE_UNAVAILABLE.*retries in \d+ s/);
  const id = (await query<{ id: string }>(`SELECT id FROM api_keys WHERE name = 'late'`)).rows[0]!.id;
  assert.equal(keyInSnapshot(warden, id), undefined, 'not in the snapshot yet');

  // A request that changes nothing is not blamed for the earlier failure.
  const check = await call('POST', '/policies/check', { policies: '@id("all") permit(principal, action, resource);' });
  assert.equal(check.status, 200, JSON.stringify(check.json));

  // The store recovers: the publisher retries on its own (well before the periodic refresh).
  failBuild = false;
  await until('the retried rebuild installs the key', () => keyInSnapshot(warden, id) !== undefined);
  const next = await call('POST', '/keys/late/revoke');
  assert.equal(next.status, 200, JSON.stringify(next.json));
  assert.ok(keyInSnapshot(warden, id)?.revokedAt instanceof Date);
});

test('only the request whose change failed to build is answered WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED: an unrelated write in flight meanwhile is answered as done', async (t) => {
  const { warden, call } = await start(t);
  assert.equal((await call('POST', '/keys', { name: 'victim', scopes: ['model:iris'] })).status, 201);
  const db = warden.controlPlane.ctx.db as Database;
  const query = db.query.bind(db);
  let failBuild = false;
  let incidentHeld = false;
  let releaseIncident!: () => void;
  const incidentGate = new Promise<void>((r) => (releaseIncident = r));
  db.query = (async (sql: string, params?: readonly unknown[]) => {
    if (failBuild && sql.startsWith('SELECT * FROM api_keys ORDER BY')) throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'injected store failure');
    return query(sql, params);
  }) as Database['query'];
  // The incident is saved, and its 'committed' audit record still being written, while another
  // admin's key change fails to build.
  const audit = warden.controlPlane.ctx.audit;
  const append = audit.append.bind(audit);
  audit.append = async (record) => {
    if (record.action === 'incident.open' && record.details?.outcome === 'committed') {
      incidentHeld = true;
      await incidentGate;
    }
    return append(record);
  };
  t.after(() => {
    releaseIncident();
    db.query = query;
    audit.append = append;
  });

  failBuild = true;
  const incidentAnswer = call('POST', '/incidents', { title: 'suspicious output', severity: 'high' });
  await until('the incident write is in flight', () => incidentHeld);
  const created = await call('POST', '/keys', { name: 'k1', scopes: ['model:iris'] });
  assert.equal(created.json.error?.code, 'WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED');
  releaseIncident();
  // A client retrying a 503 here would open the incident twice.
  const incident = await incidentAnswer;
  assert.equal(incident.status, 201, JSON.stringify(incident.json));
  const stored = (await query<{ n: number | string }>('SELECT count(*) AS n FROM respond_incidents')).rows[0]!;
  assert.equal(Number(stored.n), 1);

  // A runbook's own change is the request's: a key it blocks that cannot be built is reported.
  const run = await call('POST', '/runbooks/run', {
    yaml: 'name: contain\nrequires: [key]\nsteps: [{action: block-api-key, with: {key: "{{target.key}}"}}]\n',
    target: { key: 'victim' },
  });
  assert.equal(run.status, 503, JSON.stringify(run.json));
  assert.equal(run.json.error?.code, 'WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED');
});

test('close() stops the rebuild retries: a rebuild in flight that then fails arms no new attempt', async () => {
  let builds = 0;
  let inFlight = false;
  let hold: Promise<void> | null = null;
  const fail = async () => {
    builds++;
    inFlight = true;
    if (hold) await hold;
    inFlight = false;
    throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'database closed');
  };
  let errorLogs = 0;
  const logger = { error: () => errorLogs++, warn: () => undefined, info: () => undefined, debug: () => undefined };
  const events = new EventEmitter();
  const ctx = { db: { query: fail, all: fail, get: fail }, logger, events, serverSecret: new Uint8Array(32), config: { artifacts: { admission: {} } } };
  const publisher = new SnapshotPublisher(ctx as unknown as ControlPlaneContext, { firstMs: 10, maxMs: 20 });

  // While open, a failed rebuild is retried on its own.
  events.emit('snapshot:changed');
  await until('failed rebuilds are retried', () => builds >= 3);

  let release!: () => void;
  hold = new Promise<void>((r) => (release = r));
  await until('a rebuild is in flight', () => inFlight);
  const inflight = publisher.rebuild();
  publisher.close();
  release();
  await assert.rejects(inflight);
  const atClose = builds;
  const logsAtClose = errorLogs;
  events.emit('snapshot:changed');
  // Many retry delays (10-20 ms): a retry loop still running would have built again by now.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(builds, atClose, 'no rebuild after close()');
  assert.equal(errorLogs, logsAtClose, 'no failure logged after close()');
  assert.equal(events.listenerCount('snapshot:changed'), 0);
});

test('registering a model pushes the snapshot at once: gateways stop admitting the model unverified', async (t) => {
  const { warden, call } = await start(t);
  const dir = tempDataDir('warden-snapshot-model-');
  t.after(() => removeDir(dir));
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'weights.bin'), 'weights');
  const manifest = await createManifest(join(dir, 'model'), { kind: 'model' });
  const admitted = () => warden.controlPlane.snapshots.current()?.admission.models.has('fresh-model') ?? false;
  assert.equal(admitted(), false);
  const registered = await call('POST', '/artifacts', { kind: 'model', name: 'fresh-model', version: '1', manifest });
  assert.equal(registered.status, 201, JSON.stringify(registered.json));
  // Well before the periodic refresh (a third of the snapshot TTL).
  await until('the registered model is in the snapshot', admitted, 5_000);
});

test('an artifact or lineage change whose audit record cannot be made durable is refused (503 WARDEN_AUDIT_WRITE_FAILED) and the registry is unchanged; a revocation goes ahead', async (t) => {
  const { warden, call } = await start(t, OPEN_PROMOTION);
  const ok = (r: Awaited<ReturnType<typeof call>>, status = 200) => assert.equal(r.status, status, JSON.stringify(r.json));
  ok(await call('POST', '/artifacts', { kind: 'model', name: 'fraud', version: '1', manifest: await modelManifest(t, 'v1') }), 201);
  ok(await call('POST', '/artifacts', { kind: 'model', name: 'fraud', version: '2', manifest: await modelManifest(t, 'v2') }), 201);
  for (const [v, stage] of [['1', 'approved'], ['1', 'serving'], ['2', 'approved']] as const) ok(await call('POST', `/artifacts/fraud/versions/${v}/promote`, { stage }));
  const before = await call('GET', '/artifacts/fraud');
  const servingDigest = () => warden.controlPlane.snapshots.current()?.admission.models.get('fraud')?.serving?.digest;
  const digestBefore = servingDigest();
  assert.ok(digestBefore, 'fraud@1 serves');
  let announced = 0;
  const onChanged = () => announced++;
  warden.controlPlane.ctx.events.on('snapshot:changed', onChanged);
  t.after(() => warden.controlPlane.ctx.events.off('snapshot:changed', onChanged));

  failEveryAuditAppend(t, warden);
  const unchanged = async (what: string) => assert.deepEqual((await call('GET', '/artifacts/fraud')).json, before.json, `${what}: the registry is unchanged`);
  refused(await call('POST', '/artifacts', { kind: 'model', name: 'fraud', version: '3', manifest: await modelManifest(t, 'v3') }), 'artifacts.register');
  await unchanged('artifacts.register');
  refused(await call('POST', '/artifacts', { kind: 'model', name: 'newcomer', version: '1', manifest: await modelManifest(t, 'n1') }), 'artifacts.register (new model)');
  assert.equal((await call('GET', '/artifacts/newcomer')).json.error?.code, 'WARDEN_ARTIFACT_NOT_FOUND');
  refused(await call('POST', '/artifacts/fraud/versions/2/promote', { stage: 'serving' }), 'artifacts.promote');
  await unchanged('artifacts.promote');
  refused(await call('POST', '/artifacts/fraud/rollback'), 'artifacts.rollback');
  await unchanged('artifacts.rollback');
  const lineage = { eventType: 'COMPLETE', eventTime: '2026-01-01T00:00:00Z', producer: 'test', run: { runId: 'r-unaudited' }, job: { namespace: 'n', name: 'j' }, inputs: [{ namespace: 'n', name: 'reviews' }], outputs: [] };
  refused(await call('POST', '/lineage', lineage), 'lineage.ingest');
  assert.equal((await call('GET', '/lineage/run:r-unaudited')).json.error?.code, 'WARDEN_LINEAGE_NODE_NOT_FOUND');
  assert.equal(announced, 0, 'no change was announced to PEPs');
  assert.equal(servingDigest(), digestBefore, 'PEPs still admit fraud@1');
  // A revocation only takes a model out of service: it goes ahead during the outage and reaches PEPs.
  ok(await call('POST', '/artifacts/fraud/versions/1/revoke', { reason: 'tampered' }));
  assert.equal(announced, 1, 'the revocation is announced to PEPs');
  assert.notEqual(servingDigest(), digestBefore, 'PEPs no longer admit fraud@1');
});

test('a promote is recorded before it is made (attempted) and after (committed); a refused one gets a failed record with its code', async (t) => {
  const { call } = await start(t, OPEN_PROMOTION);
  const registered = await call('POST', '/artifacts', { kind: 'model', name: 'fraud', version: '1', manifest: await modelManifest(t, 'v1') });
  assert.equal(registered.status, 201, JSON.stringify(registered.json));
  const digest = (registered.json.version as { digest: string }).digest;
  const promoted = await call('POST', '/artifacts/fraud/versions/1/promote', { stage: 'approved' });
  assert.equal(promoted.status, 200, JSON.stringify(promoted.json));
  const invalid = await call('POST', '/artifacts/fraud/versions/1/promote', { stage: 'approved' });
  assert.equal(invalid.json.error?.code, 'WARDEN_ARTIFACT_STAGE_INVALID');

  type Entry = { index: number; record: { kind: string; principal: string; resource?: string; decision: string; code?: string; details?: Record<string, unknown> } };
  const entries = ((await call('GET', '/audit/records?action=artifacts.promote')).json.entries as Entry[]).sort((a, b) => a.index - b.index);
  const resource = 'ArtifactVersion::"fraud@1"';
  assert.deepEqual(
    entries.map((e) => [e.record.resource, e.record.decision, e.record.code ?? null, e.record.details]),
    [
      [resource, 'allow', null, { stage: 'approved', outcome: 'attempted' }],
      [resource, 'allow', null, { stage: 'approved', digest, previousServing: null, outcome: 'committed' }],
      [resource, 'allow', null, { stage: 'approved', outcome: 'attempted' }],
      [resource, 'deny', 'WARDEN_ARTIFACT_STAGE_INVALID', { stage: 'approved', outcome: 'failed' }],
    ],
  );
  assert.ok(entries.every((e) => e.record.kind === 'admin' && e.record.principal.startsWith('Admin::')));
  // register names the version before it exists; the digest (read from the manifest) comes with the outcome.
  const reg = ((await call('GET', '/audit/records?action=artifacts.register')).json.entries as Entry[]).sort((a, b) => a.index - b.index);
  assert.deepEqual(
    reg.map((e) => [e.record.resource, e.record.details]),
    [
      [resource, { kind: 'model', attestations: 0, outcome: 'attempted' }],
      [resource, { kind: 'model', attestations: 0, digest, created: true, outcome: 'committed' }],
    ],
  );
});

test('an incident change whose audit record cannot be made durable is refused (503 WARDEN_AUDIT_WRITE_FAILED) and nothing changes', async (t) => {
  const { warden, call } = await start(t);
  const key = await call('POST', '/keys', { name: 'victim', scopes: ['model:iris'] });
  assert.equal(key.status, 201, JSON.stringify(key.json));
  const keyId = (key.json.record as { id: string }).id;
  const opened = await call('POST', '/incidents', { title: 'suspicious output', severity: 'high' });
  assert.equal(opened.status, 201, JSON.stringify(opened.json));
  const id = (opened.json.incident as { id: string }).id;
  const before = await call('GET', `/incidents/${id}`);

  failEveryAuditAppend(t, warden);
  refused(await call('POST', '/incidents', { title: 'unrecorded', severity: 'low' }), 'incident.open');
  refused(await call('POST', `/incidents/${id}/transition`, { to: 'contained' }), 'incident.contained');
  refused(await call('POST', `/incidents/${id}/notes`, { text: 'unrecorded note' }), 'incident.note');
  // A hand-run runbook opens its incident first: refused before any step runs.
  refused(
    await call('POST', '/runbooks/run', { yaml: 'name: contain\nrequires: [key]\nsteps: [{action: block-api-key, with: {key: "{{target.key}}"}}]\n', target: { key: 'victim' } }),
    'runbooks/run (incident.open)',
  );

  assert.deepEqual((await call('GET', `/incidents/${id}`)).json, before.json, 'the incident is not moved and has no new note');
  assert.deepEqual(((await call('GET', '/incidents')).json.incidents as { id: string }[]).map((i) => i.id), [id], 'no incident was opened');
  assert.equal(keyInSnapshot(warden, keyId)?.revokedAt, null, 'the runbook did not run: the key still works');
});

test('an incident is opened only once an attempted incident.open record names it; a committed record follows', async (t) => {
  const { call } = await start(t);
  const opened = await call('POST', '/incidents', { title: 'suspicious output', severity: 'high' });
  assert.equal(opened.status, 201, JSON.stringify(opened.json));
  const id = (opened.json.incident as { id: string }).id;
  assert.equal((await call('POST', `/incidents/${id}/transition`, { to: 'contained' })).status, 200);
  type Entry = { index: number; record: { action: string; resource?: string; details?: Record<string, unknown> } };
  const entries = ((await call('GET', '/audit/records?kind=admin&limit=1000')).json.entries as Entry[]).filter((e) => e.record.resource === `Incident::"${id}"`).sort((a, b) => a.index - b.index);
  assert.deepEqual(
    entries.map((e) => [e.record.action, e.record.details?.outcome]),
    [
      ['incident.open', 'attempted'],
      ['incident.open', 'committed'],
      ['incident.contained', 'attempted'],
      ['incident.contained', 'committed'],
    ],
  );
  assert.deepEqual(entries[0]!.record.details, { title: 'suspicious output', severity: 'high', target: {}, outcome: 'attempted' });
});

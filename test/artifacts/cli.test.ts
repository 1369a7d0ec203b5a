import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, openSync, writeSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openStore, type Database } from '../../src/store/index.js';
import { loadConfig } from '../../src/config/index.js';
import { WardenError } from '../../src/errors/index.js';
import type { AuditLog, AuditRecord } from '../../src/audit/index.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';
import { listenArtifactAdminApi } from '../helpers/artifactAdminApi.js';
import { main } from '../../src/cli/main.js';
import { admissionTableFromJson, admitModel, type AdmissionTableJson } from '../../src/artifacts/index.js';

let dir: string;
let db: Database;
let app: FastifyInstance;
const records: AuditRecord[] = [];
let snapshotEvents = 0;
/** Audit records whose append fails (the audit store is down for them). */
let failAudit: ((r: AuditRecord) => boolean) | null = null;
const env = { WARDEN_ARTIFACTS_PROMOTION_APPROVERS: '["User::\\"alice\\""]', WARDEN_ADMIN_TOKEN: 'test-admin-token' } as Record<string, string>;

/** Runs the real CLI in-process; stdout/stderr are captured. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  // The CLI writes strings; the test runner's own (binary) messages pass through untouched.
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) => (typeof s === 'string' ? ((stdout += s), true) : (ow as (...a: unknown[]) => boolean)(s, ...rest))) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array, ...rest: unknown[]) => (typeof s === 'string' ? ((stderr += s), true) : (ew as (...a: unknown[]) => boolean)(s, ...rest))) as typeof process.stderr.write;
  try {
    const code = await main(args[0] === '--data-dir' ? args : ['--data-dir', join(dir, 'data'), ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-artifact-cli-'));
  Object.assign(process.env, env);
  db = await openStore({});
  const config = loadConfig({ dataDir: join(dir, 'data'), env: { ...process.env } });
  // Only append is used by the routes; the rest of the AuditLog surface is not needed here.
  const audit = {
    append: async (r: AuditRecord) => {
      if (failAudit?.(r)) throw new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'injected audit failure');
      records.push(r);
    },
    queueDepth: 0, flush: async () => {}, close: async () => {} } as unknown as AuditLog;
  const events = new EventEmitter();
  events.on('snapshot:changed', () => snapshotEvents++);
  const ctx: ControlPlaneContext = { config, db, audit, logger: pino({ level: 'silent' }), serverSecret: new Uint8Array(32), events };
  let url: string;
  ({ app, url } = await listenArtifactAdminApi(ctx, env.WARDEN_ADMIN_TOKEN!));
  process.env.WARDEN_ADMIN_URL = url;
});

after(async () => {
  await app.close();
  await db.close();
  for (const k of [...Object.keys(env), 'WARDEN_ADMIN_URL', 'WARDEN_ARTIFACTS_ENCRYPTION_REQUIRED']) delete process.env[k];
  rmSync(dir, { recursive: true, force: true });
});

test('warden artifact: add, scan, approve, promote, lineage, blast radius and admission through the admin API', async () => {
  mkdirSync(join(dir, 'reviews'));
  writeFileSync(join(dir, 'reviews', 'train.jsonl'), '{"text":"great","label":1}\n{"text":"awful","label":0}\n');
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'model.safetensors'), Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]));
  writeFileSync(join(dir, 'model', 'config.json'), '{"arch":"tiny"}');

  let r = await cli('artifact', 'add', join(dir, 'reviews'), '--kind', 'dataset', '--name', 'reviews', '--version', '1', '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  r = await cli('artifact', 'add', join(dir, 'model'), '--name', 'sentiment', '--version', '1', '--scan', '--run', 'run-1', '--input', 'reviews@1', '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  const added = JSON.parse(r.stdout) as { version: { digest: string; stage: string } };
  assert.equal(added.version.stage, 'candidate');

  r = await cli('artifact', 'promote', 'sentiment@1', '--to', 'approved');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_ARTIFACT_APPROVAL_REQUIRED: /);
  r = await cli('artifact', 'approve', 'sentiment@1', '--principal', 'User::"mallory"');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_ARTIFACT_APPROVER_DENIED: /);
  assert.equal(records.at(-1)!.decision, 'deny');
  r = await cli('artifact', 'approve', 'sentiment@1', '--principal', 'User::"alice"');
  assert.equal(r.code, 0, r.stderr);
  const before = snapshotEvents;
  for (const stage of ['approved', 'serving']) assert.equal((await cli('artifact', 'promote', 'sentiment@1', '--to', stage)).code, 0);
  assert.equal(snapshotEvents, before + 2, 'serving changes are pushed to PEPs');
  assert.ok(records.some((x) => x.action === 'artifacts.promote' && x.kind === 'admin' && x.resource === 'ArtifactVersion::"sentiment@1"'));
  assert.ok(!JSON.stringify(records).includes('BEGIN'), 'no key material in audit records');

  r = await cli('artifact', 'show', 'sentiment', '--format', 'json');
  const shown = JSON.parse(r.stdout) as { versions: { stage: string; attestations: { predicateType: string }[] }[] };
  assert.equal(shown.versions[0]!.stage, 'serving');
  assert.deepEqual(shown.versions[0]!.attestations.map((a) => a.predicateType).sort(), [
    'https://model_signing/signature/v1.0',
    'https://warden.dev/attestations/approval/v1',
    'https://warden.dev/attestations/model-scan/v1',
  ]);
  r = await cli('artifact', 'list', '--format', 'json');
  assert.deepEqual(JSON.parse(r.stdout).artifacts.map((a: { name: string; serving: string | null }) => [a.name, a.serving]), [['reviews', null], ['sentiment', '1']]);

  r = await cli('artifact', 'blast-radius', 'reviews@1', '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  const br = JSON.parse(r.stdout) as { models: { key: string }[]; deployments: { key: string; servingAffected: boolean }[] };
  assert.deepEqual(br.models.map((m) => m.key), ['model:sentiment@1']);
  assert.deepEqual(br.deployments.map((d) => [d.key, d.servingAffected]), [['deployment:sentiment', true]]);
  r = await cli('artifact', 'lineage', 'sentiment@1', '--upstream');
  assert.equal(r.stdout, 'model:sentiment@1\n  run:run-1\n    dataset:reviews@1\n      dataset:reviews\n');

  // SLSA provenance through the CLI (Warden key, explicit builder) feeds lineage.
  r = await cli('artifact', 'provenance', 'sentiment@1', '--run', 'run-7', '--dataset', 'reviews@1', '--code-digest', 'gitCommit:0123abcd', '--builder', 'spiffe://warden.test/train/sentiment', '--param', 'epochs=3');
  assert.equal(r.code, 0, r.stderr);
  r = await cli('artifact', 'lineage', 'reviews@1', '--downstream', '--format', 'json');
  assert.ok((JSON.parse(r.stdout) as { nodes: { key: string }[] }).nodes.some((n) => n.key === 'run:run-7'));
  r = await cli('artifact', 'provenance', 'sentiment@1', '--run', 'run-8', '--dataset', 'reviews', '--code-digest', 'gitCommit:0123abcd', '--builder', 'spiffe://x/y');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_USAGE: --dataset reviews must be NAME@VERSION/);

  const res = await fetch(`${process.env.WARDEN_ADMIN_URL}/api/v1/admission/models`, { headers: { authorization: `Bearer ${env.WARDEN_ADMIN_TOKEN}` } });
  const table = admissionTableFromJson((await res.json()) as AdmissionTableJson);
  assert.deepEqual(admitModel(table, 'sentiment', undefined, added.version.digest), { ok: true, version: '1', digest: added.version.digest });

  // v2 is served, found tampered on the model server, revoked, and serving rolls back to v1.
  writeFileSync(join(dir, 'model', 'config.json'), '{"arch":"tiny","v":2}');
  r = await cli('artifact', 'add', join(dir, 'model'), '--name', 'sentiment', '--version', '2', '--scan', '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  const v2digest = (JSON.parse(r.stdout) as { version: { digest: string } }).version.digest;
  assert.equal((await cli('artifact', 'approve', 'sentiment@2', '--principal', 'User::"alice"')).code, 0);
  for (const stage of ['approved', 'serving']) assert.equal((await cli('artifact', 'promote', 'sentiment@2', '--to', stage)).code, 0);
  const admission = async () =>
    admissionTableFromJson((await (await fetch(`${process.env.WARDEN_ADMIN_URL}/api/v1/admission/models`, { headers: { authorization: `Bearer ${env.WARDEN_ADMIN_TOKEN}` } })).json()) as AdmissionTableJson);
  assert.equal((admitModel(await admission(), 'sentiment', undefined, added.version.digest) as { code: string }).code, 'WARDEN_ADMISSION_DIGEST_MISMATCH');
  const events = snapshotEvents;
  // The audit store takes neither of the revoke's records (an audit outage during an incident):
  // a revocation only takes access away, so it is made anyway and pushed to PEPs.
  failAudit = (x) => x.action === 'artifacts.revoke';
  r = await cli('artifact', 'revoke', 'sentiment@2', '--reason', 'weights differ from the signed manifest');
  failAudit = null;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(snapshotEvents, events + 1, 'the revocation is pushed although neither of its records could be written');
  assert.equal((admitModel(await admission(), 'sentiment', undefined, v2digest) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  r = await cli('artifact', 'rollback', 'sentiment', '--format', 'json');
  assert.deepEqual(JSON.parse(r.stdout), { from: null, to: 'sentiment@1' });
  assert.equal(snapshotEvents, events + 2);
  assert.deepEqual(admitModel(await admission(), 'sentiment', undefined, added.version.digest), { ok: true, version: '1', digest: added.version.digest });
  assert.equal((admitModel(await admission(), 'sentiment', undefined, v2digest) as { code: string }).code, 'WARDEN_ADMISSION_REVOKED');
  assert.ok(records.some((x) => x.action === 'artifacts.rollback' && (x.details as { to?: string }).to === 'sentiment@1'));

  // OpenLineage events over the API.
  const ol = await fetch(`${process.env.WARDEN_ADMIN_URL}/api/v1/lineage`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.WARDEN_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ eventType: 'COMPLETE', eventTime: '2026-01-01T00:00:00Z', producer: 'test', run: { runId: 'r-9' }, job: { namespace: 'n', name: 'j' }, inputs: [{ namespace: 'n', name: 'reviews' }], outputs: [{ namespace: 'n', name: 'summary' }] }),
  });
  assert.equal(ol.status, 201);
  const bad = await fetch(`${process.env.WARDEN_ADMIN_URL}/api/v1/lineage`, { method: 'POST', headers: { authorization: `Bearer ${env.WARDEN_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"run":{}}' });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'WARDEN_LINEAGE_EVENT_INVALID');
});

test('warden artifact verify (offline): a flipped byte fails naming the file; a wrong signer fails', async () => {
  mkdirSync(join(dir, 'm2'));
  writeFileSync(join(dir, 'm2', 'a.bin'), Buffer.alloc(4096, 1));
  writeFileSync(join(dir, 'm2', 'b.bin'), Buffer.alloc(4096, 2));
  assert.equal((await cli('artifact', 'hash', join(dir, 'm2'), '--out', join(dir, 'm2.json'))).code, 0);
  assert.equal((await cli('artifact', 'sign', join(dir, 'm2.json'), '--out', join(dir, 'm2.bundle.json'))).code, 0);
  let r = await cli('artifact', 'verify', join(dir, 'm2'), '--bundle', join(dir, 'm2.bundle.json'), '--format', 'json');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(JSON.parse(r.stdout).signature.ok, true);

  const fd = openSync(join(dir, 'm2', 'b.bin'), 'r+');
  writeSync(fd, Buffer.from([3]), 0, 1, 100);
  closeSync(fd);
  r = await cli('artifact', 'verify', join(dir, 'm2'), '--bundle', join(dir, 'm2.bundle.json'));
  assert.equal(r.code, 1);
  assert.match(r.stdout, /MODIFIED b\.bin/);
  assert.doesNotMatch(r.stdout, /a\.bin/);

  // Attaching a signed manifest of other bytes to a registered version is refused.
  r = await cli('artifact', 'attest', 'sentiment@1', join(dir, 'm2.bundle.json'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_ATTESTATION_SUBJECT_MISMATCH: /);

  // A dataset row changed: the text report names the file and the line.
  mkdirSync(join(dir, 'ds2'));
  writeFileSync(join(dir, 'ds2', 'rows.csv'), 'id,text\n1,a\n2,b\n3,c\n');
  assert.equal((await cli('artifact', 'hash', join(dir, 'ds2'), '--kind', 'dataset', '--out', join(dir, 'ds2.json'))).code, 0);
  writeFileSync(join(dir, 'ds2', 'rows.csv'), 'id,text\n1,a\n2,POISON\n3,c\n');
  r = await cli('artifact', 'verify', join(dir, 'ds2'), '--manifest', join(dir, 'ds2.json'));
  assert.equal(r.code, 1);
  assert.match(r.stdout, /MODIFIED rows\.csv\n\s+lines 3\n/);

  // Another data dir (another Warden key) does not trust this signature…
  const r2 = await main(['--data-dir', join(dir, 'other'), 'artifact', 'verify', join(dir, 'm2'), '--bundle', join(dir, 'm2.bundle.json'), '--format', 'json']).catch(() => 99);
  assert.equal(r2, 1);
  // …until it is given the signing key's public half (signature OK; b.bin still modified).
  const pk = JSON.parse((await cli('artifact', 'public-key', '--format', 'json')).stdout) as { keyId: string; publicKeyPem: string };
  writeFileSync(join(dir, 'warden-signing.pub'), pk.publicKeyPem);
  r = await cli('--data-dir', join(dir, 'other'), 'artifact', 'verify', join(dir, 'm2'), '--bundle', join(dir, 'm2.bundle.json'), '--trust-key', join(dir, 'warden-signing.pub'), '--format', 'json');
  const out = JSON.parse(r.stdout) as { ok: boolean; signature: { ok: boolean; signer: { keyId: string } }; files: { path: string; status: string }[] };
  assert.equal(out.signature.signer.keyId, pk.keyId);
  assert.deepEqual(out.files.filter((f) => f.status !== 'ok').map((f) => f.path), ['b.bin']);
  r = await cli('artifact', 'verify', join(dir, 'm2'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_USAGE/);
});

test('warden artifact store / rotate-keys / retrieve with encryption required', async () => {
  process.env.WARDEN_ARTIFACTS_ENCRYPTION_REQUIRED = 'true';
  writeFileSync(join(dir, 'secret-weights.bin'), Buffer.alloc(10_000, 7));
  let r = await cli('artifact', 'store', join(dir, 'secret-weights.bin'), '--no-encrypt');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_ARTIFACT_ENCRYPTION_REQUIRED/);
  r = await cli('artifact', 'store', join(dir, 'secret-weights.bin'), '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  const stored = JSON.parse(r.stdout) as { id: string; kekId: string };
  r = await cli('artifact', 'rotate-keys', '--format', 'json');
  const rot = JSON.parse(r.stdout) as { kekId: string; rewrapped: number };
  assert.notEqual(rot.kekId, stored.kekId);
  assert.ok(rot.rewrapped >= 1);
  r = await cli('artifact', 'retrieve', stored.id, '--out', join(dir, 'back.bin'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(join(dir, 'back.bin')), Buffer.alloc(10_000, 7));
  assert.equal(existsSync(join(dir, 'data', 'artifacts', 'blobs', `${stored.id}.wenc`)), true);
});

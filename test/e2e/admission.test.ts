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
  restartModelServer,
  rootDigestOf,
  startModelServer,
  tamperModelFile,
  trainIrisModel,
  type CliResult,
  type ModelServerProcess,
} from '../helpers/artifacts.js';

/**
 * Issue #7, end to end: a real `warden up`, a real model server process loading an iris model
 * directory from disk and reporting the manifest digest of what it loaded, and the real CLI.
 * The gateway serves the registry's serving version, refuses tampered bytes and revoked
 * versions with stable codes, and serves again after `warden artifact rollback`.
 */

let warden: WardenProcess;
let server: ModelServerProcess;
let cli: (args: string[]) => Promise<CliResult>;
let work: string;
const dirs = { v1: '', v2: '', served: '' };
const digests = { v1: '', v2: '' };
const deniedRequestIds: { requestId: string; code: string }[] = [];

before(async () => {
  work = tempDataDir('warden-admission-');
  dirs.v1 = join(work, 'iris-1');
  dirs.v2 = join(work, 'iris-2');
  dirs.served = join(work, 'served');
  await Promise.all([trainIrisModel(dirs.v1, 300), trainIrisModel(dirs.v2, 600)]);
  [digests.v1, digests.v2] = await Promise.all([rootDigestOf(dirs.v1), rootDigestOf(dirs.v2)]);
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

function remember(r: { json: unknown }): void {
  const e = (r.json as { error?: { code: string; requestId: string } }).error;
  if (e) deniedRequestIds.push({ requestId: e.requestId, code: e.code });
}

test('the two model versions differ and the model server reports the digest of the files it loaded', () => {
  assert.match(digests.v1, /^[0-9a-f]{64}$/);
  assert.notEqual(digests.v1, digests.v2);
  assert.equal(server.digest, digests.v2);
});

test('register v1 and v2 with the CLI: promotion needs a signed manifest, a passing scan and an approval', async () => {
  // v1: registered unsigned (scan only), so promotion is refused until a signed manifest is attached.
  await cliOk(cli, ['artifact', 'add', dirs.v1, '--name', 'iris', '--version', '1', '--no-sign', '--scan', '--format', 'json']);
  await cliOk(cli, ['artifact', 'approve', 'iris@1', '--principal', 'User::"alice"', '--format', 'json']);
  const unsigned = await cliFails(cli, ['artifact', 'promote', 'iris@1', '--to', 'approved']);
  assert.equal(unsigned.errorCode, 'WARDEN_ARTIFACT_SIGNATURE_REQUIRED', unsigned.stderr);
  // Sign the manifest offline (Warden key) and attach it: the separate hash → sign → attest path.
  const manifest = join(work, 'iris-1.manifest.json');
  const bundle = join(work, 'iris-1.sigstore.json');
  await cliOk(cli, ['artifact', 'hash', dirs.v1, '--out', manifest]);
  await cliOk(cli, ['artifact', 'sign', manifest, '--out', bundle]);
  await cliOk(cli, ['artifact', 'attest', 'iris@1', bundle, '--format', 'json']);
  await cliOk(cli, ['artifact', 'promote', 'iris@1', '--to', 'approved', '--format', 'json']);

  // v2: add signs and scans in one go; an approver outside the policy is refused.
  const added = await cliOk<{ version: { digest: string; stage: string } }>(cli, ['artifact', 'add', dirs.v2, '--name', 'iris', '--version', '2', '--scan', '--format', 'json']);
  assert.equal(added.version.digest, digests.v2);
  const noApproval = await cliFails(cli, ['artifact', 'promote', 'iris@2', '--to', 'approved']);
  assert.equal(noApproval.errorCode, 'WARDEN_ARTIFACT_APPROVAL_REQUIRED', noApproval.stderr);
  const mallory = await cliFails(cli, ['artifact', 'approve', 'iris@2', '--principal', 'User::"mallory"']);
  assert.equal(mallory.errorCode, 'WARDEN_ARTIFACT_APPROVER_DENIED', mallory.stderr);
  await cliOk(cli, ['artifact', 'approve', 'iris@2', '--principal', 'User::"alice"', '--format', 'json']);
  await cliOk(cli, ['artifact', 'promote', 'iris@2', '--to', 'approved', '--format', 'json']);
  const served = await cliOk<{ version: { stage: string; digest: string } }>(cli, ['artifact', 'promote', 'iris@2', '--to', 'serving', '--format', 'json']);
  assert.equal(served.version.stage, 'serving');

  const admission = await cliOk<{ artifacts: { name: string; serving: string | null }[] }>(cli, ['artifact', 'list', '--kind', 'model', '--format', 'json']);
  assert.equal(admission.artifacts.find((a) => a.name === 'iris')?.serving, '2');
});

test('v2 serving and the server loaded v2: the gateway answers 200', async () => {
  const r = await inferUntil(warden, (x) => x.status === 200);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((r.json as { outputs: { name: string; data: number[] }[] }).outputs.find((o) => o.name === 'label')?.data, [0]);
  assert.equal(r.headers['x-warden-model-digest'], `sha256:${digests.v2}`);
});

test('one flipped byte in the served model: the gateway refuses with WARDEN_ADMISSION_DIGEST_MISMATCH and never returns its output', async () => {
  tamperModelFile(dirs.served);
  server = await restartModelServer(server, dirs.served);
  assert.notEqual(server.digest, digests.v2, 'the server reports the digest of the tampered bytes');
  const r = await inferUntil(warden, (x) => x.status !== 200 && x.status < 500);
  assert.equal(r.status, 403, r.text);
  assert.equal(errorCodeOf(r), 'WARDEN_ADMISSION_DIGEST_MISMATCH');
  assert.equal((r.json as { outputs?: unknown }).outputs, undefined, 'no model output reaches the client');
  assert.ok(!r.text.includes(server.digest), 'the refusal does not echo the upstream digest');
  remember(r);
});

test('warden artifact rollback: serving moves to v1, pushed to the gateway; the tampered server is still refused', async () => {
  const rolled = await cliOk<{ from: string | null; to: string }>(cli, ['artifact', 'rollback', 'iris', '--format', 'json']);
  assert.deepEqual(rolled, { from: 'iris@2', to: 'iris@1' });
  const shown = await cliOk<{ versions: { version: string; stage: string }[] }>(cli, ['artifact', 'show', 'iris', '--format', 'json']);
  assert.deepEqual(shown.versions.map((v) => [v.version, v.stage]), [['1', 'serving'], ['2', 'retired']]);
  const r = await inferUntil(warden, (x) => errorCodeOf(x) === 'WARDEN_ADMISSION_DIGEST_MISMATCH' && /version 1/.test(x.text));
  assert.equal(errorCodeOf(r), 'WARDEN_ADMISSION_DIGEST_MISMATCH', r.text);
  assert.match(r.text, /version 1/, 'the gateway now pins v1');
  remember(r);
});

test('v2 revoked: its genuine bytes are refused with WARDEN_ADMISSION_REVOKED', async () => {
  await cliOk(cli, ['artifact', 'revoke', 'iris@2', '--reason', 'tampered copy found on the model server', '--format', 'json']);
  deployModelFiles(dirs.v2, dirs.served);
  server = await restartModelServer(server, dirs.served);
  assert.equal(server.digest, digests.v2);
  const r = await inferUntil(warden, (x) => errorCodeOf(x) === 'WARDEN_ADMISSION_REVOKED');
  assert.equal(r.status, 403, r.text);
  assert.equal(errorCodeOf(r), 'WARDEN_ADMISSION_REVOKED');
  remember(r);
  const again = await cliFails(cli, ['artifact', 'promote', 'iris@2', '--to', 'serving']);
  assert.ok(again.errorCode === 'WARDEN_ARTIFACT_STAGE_INVALID' || again.errorCode === 'WARDEN_ARTIFACT_REVOKED', again.stderr);
});

test('the model server loads v1 files: the gateway serves again', async () => {
  deployModelFiles(dirs.v1, dirs.served);
  server = await restartModelServer(server, dirs.served);
  assert.equal(server.digest, digests.v1);
  const r = await inferUntil(warden, (x) => x.status === 200);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-warden-model-digest'], `sha256:${digests.v1}`);
});

test('audit: every refusal is a deny record with its code; register, attest, approve, promote, revoke and rollback are admin records', async () => {
  await warden.stop();
  const records = await readAuditRecords(warden.dataDir);
  assert.equal(deniedRequestIds.length, 3);
  for (const d of deniedRequestIds) {
    const rec = records.find((r) => r.requestId === d.requestId);
    assert.ok(rec, `audit record for ${d.requestId}`);
    assert.equal(rec.decision, 'deny');
    assert.equal(rec.code, d.code);
    assert.equal(rec.model, 'iris');
  }
  const admin = records.filter((r) => r.kind === 'admin').map((r) => `${r.action} ${r.resource ?? ''}`);
  for (const want of [
    'artifacts.register ArtifactVersion::"iris@1"',
    'artifacts.attest ArtifactVersion::"iris@1"',
    'artifacts.approve ArtifactVersion::"iris@2"',
    'artifacts.promote ArtifactVersion::"iris@2"',
    'artifacts.rollback Model::"iris"',
    'artifacts.revoke ArtifactVersion::"iris@2"',
  ]) assert.ok(admin.includes(want), `admin record ${want}`);
  assert.ok(records.some((r) => r.action === 'artifacts.approve' && r.decision === 'deny' && r.code === 'WARDEN_ARTIFACT_APPROVER_DENIED'), 'the refused approval is audited');
  assert.ok(records.some((r) => r.model === 'iris' && r.decision === 'allow' && r.status === 200));
  const text = JSON.stringify(records);
  assert.ok(!text.includes(warden.ready.demoKey!) && !text.includes(warden.ready.adminToken!), 'no secret in the audit log');
});

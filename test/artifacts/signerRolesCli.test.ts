// The adversarial review's repro through the real CLI and admin API: a partner key trusted to sign
// manifests (artifacts.trust.publicKeyFiles) can neither approve a version nor vouch for its own
// scan; a scanner key listed in artifacts.trust.scannerKeyIds can sign scan reports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openStore, type Database } from '../../src/store/index.js';
import { loadConfig } from '../../src/config/index.js';
import type { AuditLog } from '../../src/audit/index.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';
import { listenArtifactAdminApi } from '../helpers/artifactAdminApi.js';
import { main } from '../../src/cli/main.js';
import { approvalStatement, createManifest, keyIdOf, scanStatement, versionSubject } from '../../src/artifacts/index.js';

let dir: string;
let db: Database;
let app: FastifyInstance;
const env: Record<string, string> = { WARDEN_ARTIFACTS_PROMOTION_APPROVERS: '["User::\\"alice\\""]', WARDEN_ADMIN_TOKEN: 'test-admin-token-signer-roles' };

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) => (typeof s === 'string' ? ((stdout += s), true) : (ow as (...a: unknown[]) => boolean)(s, ...rest))) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array, ...rest: unknown[]) => (typeof s === 'string' ? ((stderr += s), true) : (ew as (...a: unknown[]) => boolean)(s, ...rest))) as typeof process.stderr.write;
  try {
    const code = await main(['--data-dir', join(dir, 'data'), ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/** Writes an Ed25519 key pair as `NAME.key` / `NAME.pub`; returns the key id. */
function keyPair(name: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }) as string);
  return keyIdOf(publicKey);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-signer-roles-'));
  keyPair('partner');
  const scannerKeyId = keyPair('scanner');
  env.WARDEN_ARTIFACTS_TRUST_PUBLIC_KEY_FILES = JSON.stringify([join(dir, 'partner.pub'), join(dir, 'scanner.pub')]);
  env.WARDEN_ARTIFACTS_TRUST_SCANNER_KEY_IDS = JSON.stringify([scannerKeyId]);
  Object.assign(process.env, env);
  db = await openStore({});
  const config = loadConfig({ dataDir: join(dir, 'data'), env: { ...process.env } });
  const audit = { append: async () => {}, queueDepth: 0, flush: async () => {}, close: async () => {} } as unknown as AuditLog;
  const ctx: ControlPlaneContext = { config, db, audit, logger: pino({ level: 'silent' }), serverSecret: new Uint8Array(32), events: new EventEmitter() };
  let url: string;
  ({ app, url } = await listenArtifactAdminApi(ctx, env.WARDEN_ADMIN_TOKEN!));
  process.env.WARDEN_ADMIN_URL = url;
});

after(async () => {
  await app?.close();
  await db?.close();
  for (const k of [...Object.keys(env), 'WARDEN_ADMIN_URL']) delete process.env[k];
  rmSync(dir, { recursive: true, force: true });
});

test('a trusted partner key cannot approve or scan its own model; the control plane approves, a configured scanner scans', { timeout: 120_000 }, async () => {
  const model = join(dir, 'iris-3');
  mkdirSync(model);
  writeFileSync(join(model, 'model.json'), '{"weights":[0.1,0.2,0.3]}');
  writeFileSync(join(model, 'config.json'), '{"arch":"iris"}');

  // `add --scan --key partner.key`: the partner's own scan report is refused, nothing is registered.
  let r = await cli('artifact', 'add', model, '--name', 'iris', '--version', '3', '--scan', '--key', join(dir, 'partner.key'), '--format', 'json');
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /^WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED: .*scannerKeyIds/);
  r = await cli('artifact', 'add', model, '--name', 'iris', '--version', '3', '--key', join(dir, 'partner.key'), '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  const digest = (JSON.parse(r.stdout) as { version: { digest: string } }).version.digest;
  const manifest = await createManifest(model, { kind: 'model' });
  assert.equal(manifest.predicate.warden.rootDigest, digest);

  // A clean scan report signed by the configured scanner key is accepted.
  const report = { files: manifest.subject.map((s) => ({ path: `iris-3/${s.name}`, format: 'json', sha256: s.digest.sha256, findings: [] })), summary: { files: manifest.subject.length, findings: 0 } };
  writeFileSync(join(dir, 'scan.json'), JSON.stringify(scanStatement(versionSubject('iris', '3', digest), report)));
  for (const [who, code] of [['partner', 'WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED'], ['scanner', null]] as const) {
    assert.equal((await cli('artifact', 'sign', join(dir, 'scan.json'), '--key', join(dir, `${who}.key`), '--out', join(dir, `scan.${who}.bundle.json`))).code, 0);
    r = await cli('artifact', 'attest', 'iris@3', join(dir, `scan.${who}.bundle.json`));
    if (code) assert.match(r.stderr, new RegExp(`^${code}: `), `${who} scan`);
    else assert.equal(r.code, 0, r.stderr);
  }

  // The forged approval: the approval statement, signed with the partner key and attached.
  const approval = approvalStatement(versionSubject('iris', '3', digest), { approver: 'User::"alice"', stage: 'approved', approvedAt: new Date().toISOString(), policies: [] });
  writeFileSync(join(dir, 'approval.json'), JSON.stringify(approval));
  assert.equal((await cli('artifact', 'sign', join(dir, 'approval.json'), '--key', join(dir, 'partner.key'), '--out', join(dir, 'approval.bundle.json'))).code, 0);
  r = await cli('artifact', 'attest', 'iris@3', join(dir, 'approval.bundle.json'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_ATTESTATION_SIGNER_NOT_ALLOWED: .*approvals are signed by the control plane/);
  r = await cli('artifact', 'promote', 'iris@3', '--to', 'approved');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_ARTIFACT_APPROVAL_REQUIRED: /);

  // /approve (policy-checked, signed by the control plane) is the way in.
  assert.equal((await cli('artifact', 'approve', 'iris@3', '--principal', 'User::"alice"')).code, 0);
  for (const stage of ['approved', 'serving']) {
    r = await cli('artifact', 'promote', 'iris@3', '--to', stage);
    assert.equal(r.code, 0, r.stderr);
  }
});

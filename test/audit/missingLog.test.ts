import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { openAuditLog, fileAuditLayout, readAuditStorageMode, type AuditVerifyReport } from '../../src/audit/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

/** An embedded log of `n` entries, closed (as after `warden up` stopped). */
async function embeddedLog(dir: string, n: number, segmentMaxBytes?: number): Promise<void> {
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig(segmentMaxBytes ? { segmentMaxBytes } : {}) });
  for (let i = 0; i < n; i++) await log.append(sampleRecord(i));
  await log.close();
}

async function verify(dir: string): Promise<{ code: number; report: AuditVerifyReport; stderr: string }> {
  const r = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  return { code: r.code, report: JSON.parse(r.stdout) as AuditVerifyReport, stderr: r.stderr };
}

test('the writer records that this data dir keeps its audit log in files', async (t) => {
  const dir = tempDir(t);
  await embeddedLog(dir, 2);
  assert.equal(readAuditStorageMode(dir), 'files');
});

test('a moved-away audit log is not clean: verify reports WARDEN_AUDIT_LOG_MISSING (exit 1) and creates nothing', async (t) => {
  const dir = tempDir(t);
  await embeddedLog(dir, 3);
  renameSync(join(dir, 'audit'), join(dir, 'audit.bak'));
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.ok, false);
  assert.equal(report.size, 0);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_LOG_MISSING');
  assert.match(report.errors[0]!.message, /WARDEN_DATABASE_URL/);
  assert.equal(existsSync(join(dir, 'audit')), false, 'verify must not create an empty log');

  // The other read commands refuse rather than answer "no records" (exit 2, one line).
  for (const args of [['query'], ['tail'], ['export'], ['prove', '--index', '0']]) {
    const r = await runCli(['--data-dir', dir, 'audit', ...args, '--format', 'json']);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^WARDEN_AUDIT_LOG_MISSING: /, args.join(' '));
    assert.equal(r.stdout, '');
  }
  assert.equal(existsSync(join(dir, 'audit')), false, 'nor does any other read command');
});

test('an empty audit/ directory is not a clean log either', async (t) => {
  const dir = tempDir(t);
  await embeddedLog(dir, 3);
  renameSync(join(dir, 'audit'), join(dir, 'audit.bak'));
  mkdirSync(join(dir, 'audit', 'segments'), { recursive: true });
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_LOG_MISSING');
  assert.deepEqual(readdirSync(join(dir, 'audit', 'segments')), [], 'nothing written by verify');
});

test('a fresh log (checkpoint of size 0, no entry) still verifies', async (t) => {
  const dir = tempDir(t);
  await embeddedLog(dir, 0);
  const { code, report } = await verify(dir);
  assert.equal(code, 0, JSON.stringify(report.errors));
  assert.equal(report.ok, true);
  assert.equal(report.size, 0);
});

test('a renamed segment file (reads from an index would skip entries) is reported at its first entry', async (t) => {
  const dir = tempDir(t);
  await embeddedLog(dir, 40, 2048);
  const segments = fileAuditLayout(dir).segments;
  const names = readdirSync(segments).sort();
  assert.ok(names.length >= 3, `several segments (${names.length})`);
  const third = Number(names[2]!.slice(0, 20));
  // Renamed to an index between the first two: sort order stays, so every entry is still read in order.
  const lower = Number(names[1]!.slice(0, 20)) - 1;
  renameSync(join(segments, names[2]!), join(segments, `${String(lower).padStart(20, '0')}.log`));
  renameSync(join(segments, names[1]!), join(segments, `${String(lower - 1).padStart(20, '0')}.log`));
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_ENTRY_MODIFIED');
  assert.ok(report.firstBadIndex !== null && report.firstBadIndex <= third, `named at a segment start (${report.firstBadIndex})`);
  assert.match(report.errors[0]!.message, /segment file .*\(renamed\)/);
});

test('an embedded data dir read with WARDEN_DATABASE_URL set is refused, not verified against the database', async (t) => {
  const dir = tempDir(t);
  await embeddedLog(dir, 2);
  const prev = process.env.WARDEN_DATABASE_URL;
  // Never reached: the data dir says where its log is before any connection is tried.
  process.env.WARDEN_DATABASE_URL = 'postgres://warden:x@127.0.0.1:1/none';
  t.after(() => {
    if (prev === undefined) delete process.env.WARDEN_DATABASE_URL;
    else process.env.WARDEN_DATABASE_URL = prev;
  });
  const r = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_AUDIT_STORAGE_MISMATCH: .*embedded.*unset WARDEN_DATABASE_URL/);
});

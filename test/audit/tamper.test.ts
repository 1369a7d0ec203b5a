import { test, after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  openAuditLog,
  fileAuditLayout,
  leafHash,
  createNoteSigner,
  ed25519PrivateKeyFromSeed,
  signCheckpoint,
  parseCheckpoint,
  openNote,
  parseVerifierKey,
  verifyAuditLog,
  FileAuditReader,
  readVerifierKeys,
  type AuditVerifyReport,
} from '../../src/audit/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

/** 50 entries with checkpoints at sizes 0, 10, 20, 30, 40, 50 (one segment). */
async function buildLog(dir: string): Promise<void> {
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  for (let i = 0; i < 50; i++) {
    await log.append(sampleRecord(i));
    if ((i + 1) % 10 === 0) await log.publishCheckpoint();
  }
  await log.close();
}

let pristine: string | null = null;
after(() => {
  if (pristine) rmSync(pristine, { recursive: true, force: true });
});
/** A fresh copy of one pristine log per test (building it once keeps the suite fast). */
async function freshLog(t: TestContext): Promise<string> {
  if (!pristine) {
    const dir = mkdtempSync(join(tmpdir(), 'warden-audit-pristine-'));
    await buildLog(dir);
    pristine = dir;
  }
  const dir = tempDir(t);
  cpSync(pristine, dir, { recursive: true });
  return dir;
}

function segmentPath(dir: string): string {
  const seg = fileAuditLayout(dir).segments;
  const names = readdirSync(seg);
  assert.equal(names.length, 1);
  return join(seg, names[0]!);
}

function editLines(dir: string, edit: (lines: string[]) => string[]): void {
  const path = segmentPath(dir);
  const lines = readFileSync(path, 'utf8').split('\n');
  const last = lines.pop();
  assert.equal(last, '');
  writeFileSync(path, edit(lines).map((l) => l + '\n').join(''));
}

async function verify(dir: string): Promise<{ code: number; report: AuditVerifyReport; stderr: string }> {
  const r = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  const report = JSON.parse(r.stdout) as AuditVerifyReport;
  // The bounded-memory verifier must reach the same verdict whatever its group size.
  for (const treeMinLevel of [0, 1, 2, 3]) {
    const again = await verifyAuditLog(new FileAuditReader(fileAuditLayout(dir)), { verifiers: readVerifierKeys({ dataDir: dir }), treeMinLevel });
    assert.deepEqual(again, report, `treeMinLevel ${treeMinLevel}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

test('an untouched log verifies: exit 0 and the DESIGN.md JSON shape', async (t) => {
  const dir = await freshLog(t);
  const { code, report, stderr } = await verify(dir);
  assert.equal(stderr, '');
  assert.equal(code, 0);
  for (const k of ['ok', 'size', 'rootHash', 'checkpoint', 'errors']) assert.ok(k in report, `has ${k}`);
  assert.equal(report.ok, true);
  assert.equal(report.size, 50);
  assert.equal(report.checkpoint?.size, 50);
  assert.equal(report.checkpoint?.rootHash, report.rootHash);
  assert.equal(report.checkpoints, 6);
  assert.deepEqual(report.errors, []);
});

test('flipping one byte of an entry is detected at that index', async (t) => {
  const dir = await freshLog(t);
  editLines(dir, (lines) => {
    const l = lines[17]!;
    const at = l.indexOf('req-17') + 4;
    lines[17] = l.slice(0, at) + '9' + l.slice(at + 1);
    return lines;
  });
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.ok, false);
  assert.equal(report.firstBadIndex, 17);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_ENTRY_MODIFIED');
  assert.equal(report.errors[0]!.index, 17);
  assert.ok(report.errors.some((e) => e.code === 'WARDEN_AUDIT_ROOT_MISMATCH' && e.checkpoint === 2), 'checkpoint at size 20 no longer matches');
  assert.equal(report.checkpoint?.size, 10, 'the last checkpoint that still holds covers 0..9');
});

test('deleting a record is detected at its index', async (t) => {
  const dir = await freshLog(t);
  editLines(dir, (lines) => lines.filter((_, i) => i !== 23));
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.firstBadIndex, 23);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_ENTRY_MISSING');
  assert.equal(report.size, 49);
});

test('truncating the tail is detected at the first missing index', async (t) => {
  const dir = await freshLog(t);
  editLines(dir, (lines) => lines.slice(0, 45));
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.firstBadIndex, 45);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_TRUNCATED');
  assert.equal(report.errors[0]!.checkpoint, 5);
});

test('reordering two records is detected at the first of them', async (t) => {
  const dir = await freshLog(t);
  editLines(dir, (lines) => {
    [lines[30], lines[31]] = [lines[31]!, lines[30]!];
    return lines;
  });
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.firstBadIndex, 30);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_ENTRY_MISSING');
});

test('replacing a checkpoint (forged root, re-signed with another key) is detected and named', async (t) => {
  const dir = await freshLog(t);
  const cpPath = fileAuditLayout(dir).checkpoints;
  const lines = readFileSync(cpPath, 'utf8').trimEnd().split('\n');
  const original = JSON.parse(lines[3]!) as { note: string };
  const body = parseCheckpoint(original.note.slice(0, original.note.indexOf('\n\n') + 1));
  const attacker = createNoteSigner(body.origin, ed25519PrivateKeyFromSeed(Buffer.alloc(32, 9)));
  const forged = signCheckpoint({ ...body, rootHash: leafHash(Buffer.from('rewritten history')) }, attacker);
  lines[3] = JSON.stringify({ note: forged.note });
  writeFileSync(cpPath, lines.join('\n') + '\n');
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors.length, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_CHECKPOINT_INVALID');
  assert.equal(report.errors[0]!.checkpoint, 3);
  // A forged note does verify under the attacker's own key, so pinning the key matters.
  assert.ok(openNote(forged.note, [parseVerifierKey(attacker.verifierKey)]));
});

test('editing a checkpoint note in place breaks its signature', async (t) => {
  const dir = await freshLog(t);
  const cpPath = fileAuditLayout(dir).checkpoints;
  const lines = readFileSync(cpPath, 'utf8').trimEnd().split('\n');
  lines[2] = lines[2]!.replace('\\n20\\n', '\\n19\\n');
  writeFileSync(cpPath, lines.join('\n') + '\n');
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_CHECKPOINT_INVALID');
  assert.equal(report.errors[0]!.checkpoint, 2);
});

test('an entry edited together with its stored hash is caught by the signed root, localised to the checkpoint range', async (t) => {
  const dir = await freshLog(t);
  editLines(dir, (lines) => {
    const [idx, , json] = lines[12]!.split('\t') as [string, string, string];
    const forged = json.replace('"deny"', '"allow"').replace('"allow"', '"allow"');
    const changed = json.includes('"deny"') ? forged : json.replace('"allow"', '"deny"');
    lines[12] = `${idx}\t${leafHash(Buffer.from(changed)).toString('hex')}\t${changed}`;
    return lines;
  });
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_ROOT_MISMATCH');
  assert.equal(report.errors[0]!.checkpoint, 2);
  assert.equal(report.firstBadIndex, 10, 'the change lies in [10, 20)');
});

test('deleting every checkpoint is detected', async (t) => {
  const dir = await freshLog(t);
  writeFileSync(fileAuditLayout(dir).checkpoints, '');
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_NO_CHECKPOINT');
});

test('a pinned verifier key rejects checkpoints signed by a swapped key file', async (t) => {
  const dir = await freshLog(t);
  const pinned = readFileSync(join(dir, 'keys', 'audit-checkpoint.vkey'), 'utf8').trim();
  const attacker = createNoteSigner('warden.local/audit', ed25519PrivateKeyFromSeed(Buffer.alloc(32, 3)));
  writeFileSync(join(dir, 'keys', 'audit-checkpoint.vkey'), attacker.verifierKey + '\n');
  const swapped = await runCli(['--data-dir', dir, 'audit', '--verifier-key', pinned, 'verify', '--format', 'json']);
  assert.equal(swapped.code, 0, 'the genuine checkpoints verify under the pinned key');
  const unpinned = await verify(dir);
  assert.equal(unpinned.code, 1, 'with the swapped key file nothing verifies');
});

test('a tampered log refuses new writes instead of signing over the damage', async (t) => {
  const dir = await freshLog(t);
  editLines(dir, (lines) => lines.filter((_, i) => i !== 5));
  await assert.rejects(openAuditLog({ dataDir: dir, audit: auditConfig() }), { code: 'WARDEN_AUDIT_TAMPERED' });
});

test('prove prints a proof that verifies against the signed checkpoint; bad input exits 2', async (t) => {
  const dir = await freshLog(t);
  const r = await runCli(['--data-dir', dir, 'audit', 'prove', '--index', '33', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as { index: number; size: number; verified: boolean; proof: string[]; record: { requestId: string } };
  assert.equal(p.index, 33);
  assert.equal(p.size, 50);
  assert.equal(p.verified, true);
  assert.equal(p.proof.length, 6);
  assert.equal(p.record.requestId, 'req-33');
  const out = await runCli(['--data-dir', dir, 'audit', 'prove', '--index', '50']);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /^WARDEN_AUDIT_INDEX_OUT_OF_RANGE: /);
  const bad = await runCli(['--data-dir', dir, 'audit', 'prove', '--index', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^WARDEN_USAGE: /);
});

test('tail, query and export read the log with filters', async (t) => {
  const dir = await freshLog(t);
  const tail = await runCli(['--data-dir', dir, 'audit', 'tail', '-n', '3', '--format', 'json']);
  assert.deepEqual((JSON.parse(tail.stdout) as { entries: { index: number }[] }).entries.map((e) => e.index), [47, 48, 49]);
  const q = await runCli(['--data-dir', dir, 'audit', 'query', '--decision', 'deny', '--principal', 'spiffe://warden.local/ns/a/sa/svc', '--format', 'json']);
  assert.deepEqual((JSON.parse(q.stdout) as { entries: { index: number }[] }).entries.map((e) => e.index), [45, 30, 15, 0]);
  const text = await runCli(['--data-dir', dir, 'audit', 'query', '--decision', 'deny', '--limit', '2']);
  assert.match(text.stdout, /^INDEX\s+TIME/);
  assert.match(text.stdout, /WARDEN_AUTHZ_DENIED/);
  const badTime = await runCli(['--data-dir', dir, 'audit', 'query', '--since', 'last tuesday']);
  assert.equal(badTime.code, 2);
  assert.match(badTime.stderr, /^WARDEN_INPUT_INVALID: /);
  const exp = await runCli(['--data-dir', dir, 'audit', 'export', '--since', sampleRecord(40).ts]);
  const lines = exp.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; leafHash: string; record: { requestId: string } });
  assert.deepEqual(lines.map((l) => l.index), [40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
  assert.equal(lines[0]!.record.requestId, 'req-40');
  const file = join(dir, 'export.jsonl');
  const toFile = await runCli(['--data-dir', dir, 'audit', 'export', '--out', file, '--decision', 'deny', '--format', 'json']);
  assert.deepEqual(JSON.parse(toFile.stdout), { exported: 10, destination: 'jsonl' });
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 10);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openAuditLog, fileAuditLayout, type AuditVerifyReport } from '../../src/audit/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

/** 50 entries, checkpoints at 0, 10, …, 50; optionally forwarded to a JSON-lines "SIEM" file. */
async function buildLog(dir: string, options: { siem?: string; first?: number } = {}): Promise<void> {
  const forward = options.siem ? [{ type: 'jsonl' as const, path: options.siem }] : [];
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ forward }) });
  for (let i = 0; i < 50; i++) {
    await log.append(sampleRecord((options.first ?? 0) + i));
    if ((i + 1) % 10 === 0) await log.publishCheckpoint();
  }
  await log.close();
}

/** What an attacker with write access does: cut entries and checkpoints back to an older signed head. */
function rollBackTo(dir: string, size: number): void {
  const layout = fileAuditLayout(dir);
  const [segment] = readdirSync(layout.segments);
  const path = join(layout.segments, segment!);
  writeFileSync(path, readFileSync(path, 'utf8').split('\n').slice(0, size).map((l) => l + '\n').join(''));
  const cps = readFileSync(layout.checkpoints, 'utf8').trim().split('\n');
  const kept = cps.filter((l) => Number((JSON.parse(l) as { note: string }).note.split('\n')[1]) <= size);
  writeFileSync(layout.checkpoints, kept.map((l) => l + '\n').join(''));
}

function saveLatestNote(dir: string, to: string): void {
  const cps = readFileSync(fileAuditLayout(dir).checkpoints, 'utf8').trim().split('\n');
  writeFileSync(to, (JSON.parse(cps.at(-1)!) as { note: string }).note);
}

async function verify(dir: string, ...extra: string[]): Promise<{ code: number; report: AuditVerifyReport }> {
  const r = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json', ...extra]);
  return { code: r.code, report: JSON.parse(r.stdout) as AuditVerifyReport };
}

test('a rollback to an older signed head passes verify alone, but not against a pinned checkpoint or --min-size', async (t) => {
  const dir = tempDir(t);
  const saved = join(tempDir(t), 'head.note');
  await buildLog(dir);
  saveLatestNote(dir, saved);

  const intact = await verify(dir, '--checkpoint', saved, '--min-size', '50');
  assert.equal(intact.code, 0, JSON.stringify(intact.report.errors));
  assert.deepEqual(intact.report.errors, []);

  rollBackTo(dir, 30);
  assert.equal((await verify(dir)).report.ok, true, 'the log alone is self-consistent at size 30 (the documented limit)');

  const pinned = await verify(dir, '--checkpoint', saved);
  assert.equal(pinned.code, 1);
  assert.equal(pinned.report.ok, false);
  assert.equal(pinned.report.size, 30);
  assert.ok('rootHash' in pinned.report && 'checkpoint' in pinned.report, 'the JSON contract keeps its fields');
  assert.equal(pinned.report.errors[0]?.code, 'WARDEN_AUDIT_TRUNCATED');
  assert.match(pinned.report.errors[0]!.message, /pinned checkpoint .*50 entries but only 30 .*rolled back/);

  const minSize = await verify(dir, '--min-size', '50');
  assert.equal(minSize.code, 1);
  assert.equal(minSize.report.errors[0]?.code, 'WARDEN_AUDIT_TRUNCATED');
  assert.match(minSize.report.errors[0]!.message, /covers 30 entries, fewer than --min-size 50/);
});

test('a log replaced by another one signed with the same key fails against the pinned head', async (t) => {
  const dir = tempDir(t);
  const saved = join(tempDir(t), 'head.note');
  await buildLog(dir);
  saveLatestNote(dir, saved);
  // The attacker holds the key (it lives in the data dir) and signs a log of their own, as long.
  const forged = tempDir(t);
  cpSync(join(dir, 'keys'), join(forged, 'keys'), { recursive: true });
  await buildLog(forged, { first: 1000 });
  assert.equal((await verify(forged)).report.ok, true);
  const r = await verify(forged, '--checkpoint', saved);
  assert.equal(r.code, 1);
  assert.equal(r.report.errors[0]?.code, 'WARDEN_AUDIT_CHECKPOINT_INCONSISTENT');
});

test('a pinned note that does not verify under the verifier key fails the verify', async (t) => {
  const dir = tempDir(t);
  await buildLog(dir);
  const other = tempDir(t);
  await buildLog(other); // its own key
  const saved = join(tempDir(t), 'head.note');
  saveLatestNote(other, saved);
  const r = await verify(dir, '--checkpoint', saved);
  assert.equal(r.code, 1);
  assert.equal(r.report.errors[0]?.code, 'WARDEN_AUDIT_CHECKPOINT_INVALID');
});

test('every signed checkpoint is forwarded to the sinks, and the SIEM copy pins the log', async (t) => {
  const dir = tempDir(t);
  const siem = join(tempDir(t), 'siem.jsonl');
  await buildLog(dir, { siem });
  const lines = readFileSync(siem, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; record: { action: string; details?: { size: number; note: string } } });
  const cps = lines.filter((l) => l.record.action === 'audit.checkpoint');
  assert.deepEqual(cps.map((l) => l.record.details!.size), [0, 10, 20, 30, 40, 50]);
  assert.ok(cps.every((l) => l.index === -1 && l.record.details!.note.includes('\n\n\u2014 ')), 'not log entries; each carries its signed note');
  assert.equal(lines.filter((l) => l.index >= 0).length, 50);

  assert.equal((await verify(dir, '--checkpoint', siem)).code, 0);
  rollBackTo(dir, 40);
  const r = await verify(dir, '--checkpoint', siem);
  assert.equal(r.code, 1);
  assert.equal(r.report.errors[0]?.code, 'WARDEN_AUDIT_TRUNCATED');
});

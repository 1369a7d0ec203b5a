import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { leafHash, openAuditLog, verifyInclusionProof, type AuditVerifyReport } from '../../src/audit/index.js';
import { openStore } from '../../src/store/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

/** A fresh database dropped after the test; null when PostgreSQL is missing (a failure under CI=true). */
async function freshDatabase(t: TestContext): Promise<{ url: string } | null> {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return null;
  const tdb = await createTestDatabase();
  t.after(() => tdb.drop());
  return tdb;
}

test('server mode on a real PostgreSQL: appends, CLI verify/query read the table, edited and deleted rows are named', async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const db = await openStore({ databaseUrl: tdb.url, poolSize: 4 });
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig(), db });
  await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(sampleRecord(i))));
  await log.close();
  const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_entries');
  assert.equal(rows.rows[0]!.n, 300, 'entries are in the table, not in segment files');
  // Reopened with small in-memory groups: proofs read their group back from the table.
  const small = await openAuditLog({ dataDir: dir, audit: auditConfig({ treeMinLevel: 3 }), db });
  const p = await small.prove(77, { withRecord: true });
  assert.equal(p.record?.requestId, 'req-77');
  assert.ok(verifyInclusionProof(77, p.size, Buffer.from(p.leafHash, 'hex'), p.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(p.rootHash, 'hex')));
  await small.close();

  const prev = process.env.WARDEN_DATABASE_URL;
  process.env.WARDEN_DATABASE_URL = tdb.url;
  t.after(() => {
    if (prev === undefined) delete process.env.WARDEN_DATABASE_URL;
    else process.env.WARDEN_DATABASE_URL = prev;
  });
  const ok = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as AuditVerifyReport).size, 300);
  const q = await runCli(['--data-dir', dir, 'audit', 'query', '--decision', 'deny', '--since', sampleRecord(280).ts, '--format', 'json']);
  assert.deepEqual((JSON.parse(q.stdout) as { entries: { index: number }[] }).entries.map((e) => e.index), [295, 290, 285, 280]);

  // Someone with database write access edits one row: the writer refuses to continue and verify names it.
  await db.query(`UPDATE audit_entries SET entry = replace(entry, '"deny"', '"allow"') WHERE idx = 15`);
  await assert.rejects(openAuditLog({ dataDir: dir, audit: auditConfig(), db }), { code: 'WARDEN_AUDIT_TAMPERED' });
  const edited = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  assert.equal(edited.code, 1);
  assert.equal((JSON.parse(edited.stdout) as AuditVerifyReport).firstBadIndex, 15);
  assert.equal((JSON.parse(edited.stdout) as AuditVerifyReport).errors[0]!.code, 'WARDEN_AUDIT_ENTRY_MODIFIED');
  await db.query(`UPDATE audit_entries SET entry = replace(entry, '"allow"', '"deny"') WHERE idx = 15`);

  await db.query('DELETE FROM audit_entries WHERE idx = 120');
  await db.close();
  const bad = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  assert.equal(bad.code, 1);
  const report = JSON.parse(bad.stdout) as AuditVerifyReport;
  assert.equal(report.firstBadIndex, 120);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_ENTRY_MISSING');
});

test('server mode: two writers (control-plane replicas) on one PostgreSQL extend one log that verifies; an entry edited under them stops the other', async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const dbA = await openStore({ databaseUrl: tdb.url, poolSize: 4 });
  const dbB = await openStore({ databaseUrl: tdb.url, poolSize: 4 });
  t.after(() => Promise.all([dbA.close(), dbB.close()]));
  // Replicas share the checkpoint key (the same data dir's keys/audit-checkpoint.key here).
  const a = await openAuditLog({ dataDir: dir, audit: auditConfig({ multipleWriters: true }), db: dbA });
  const b = await openAuditLog({ dataDir: dir, audit: auditConfig({ multipleWriters: true }), db: dbB });
  for (let round = 0; round < 5; round++) {
    await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => a.append(sampleRecord(round * 100 + i))),
      ...Array.from({ length: 40 }, (_, i) => b.append(sampleRecord(round * 100 + 50 + i))),
    ]);
    await Promise.all([a.publishCheckpoint(), b.publishCheckpoint()]);
  }
  assert.equal(a.failingClosed || b.failingClosed, false, 'neither writer refused a batch');
  // Each tree holds every entry up to its own last batch (which of the two wrote last varies, so B
  // writes one more): its checkpoints and proofs cover the other's records.
  await b.append(sampleRecord(999));
  const last = await b.publishCheckpoint();
  const p = await b.prove(0, { withRecord: true });
  assert.ok(verifyInclusionProof(0, p.size, Buffer.from(p.leafHash, 'hex'), p.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(p.rootHash, 'hex')));
  assert.equal(last.size, 401);
  const report = await a.verify();
  assert.equal(report.ok, true, JSON.stringify(report.errors));
  assert.equal(report.size, 401);

  // Another writer's entry edited after it was written: the writer that next catches up refuses to sign it.
  const n = (await dbA.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_entries')).rows[0]!.n;
  await b.append(sampleRecord(9000));
  await dbA.query(`UPDATE audit_entries SET entry = replace(entry, '"req-9000"', '"req-9001"') WHERE idx = $1`, [n]);
  await assert.rejects(a.append(sampleRecord(9002)), { code: 'WARDEN_AUDIT_TAMPERED' });
  assert.equal(a.failingClosed, true);
  await Promise.all([a.close().catch(() => undefined), b.close()]);
});

test('server mode, one writer (the default): a row written straight into the table, with its hash, is refused and the log fails closed', async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const db = await openStore({ databaseUrl: tdb.url, poolSize: 4 });
  t.after(() => db.close());
  const log = await openAuditLog({ dataDir: tempDir(t), audit: auditConfig(), db });
  await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(sampleRecord(i))));
  await log.flush();
  // Someone with database write access forges a record and its hash: only another writer may add rows.
  const forged = JSON.stringify({ action: 'keys.revoke', decision: 'allow', kind: 'admin', ts: new Date().toISOString() });
  await db.query("INSERT INTO audit_entries (idx, leaf_hash, entry, ts, kind, principal, action, decision) VALUES (10, $1, $2, now(), 'admin', NULL, 'keys.revoke', 'allow')", [leafHash(forged).toString('hex'), forged]);
  await assert.rejects(log.append(sampleRecord(11)), { code: 'WARDEN_CONFLICT' });
  assert.equal(log.failingClosed, true);
  await log.close().catch(() => undefined);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { leafHash, openAuditLog, readAuditStorageMode, type AuditVerifyReport } from '../../src/audit/index.js';
import { openStore, type Database } from '../../src/store/index.js';
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

/** WARDEN_DATABASE_URL for the in-process CLI (undefined: unset), restored after the test. */
function setDatabaseUrl(t: TestContext, url: string | undefined): void {
  const prev = process.env.WARDEN_DATABASE_URL;
  if (url === undefined) delete process.env.WARDEN_DATABASE_URL;
  else process.env.WARDEN_DATABASE_URL = url;
  t.after(() => {
    if (prev === undefined) delete process.env.WARDEN_DATABASE_URL;
    else process.env.WARDEN_DATABASE_URL = prev;
  });
}

/** A server-mode log of `n` entries in the database, its keys in `dir` (as `warden server` leaves them). */
async function serverLog(t: TestContext, url: string, dir: string, n: number): Promise<Database> {
  const db = await openStore({ databaseUrl: url, poolSize: 4 });
  t.after(() => db.close());
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig(), db });
  await Promise.all(Array.from({ length: n }, (_, i) => log.append(sampleRecord(i))));
  await log.close();
  return db;
}

async function verify(dir: string): Promise<{ code: number; report: AuditVerifyReport; stderr: string }> {
  const r = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  return { code: r.code, report: JSON.parse(r.stdout || 'null') as AuditVerifyReport, stderr: r.stderr };
}

test('server mode: without WARDEN_DATABASE_URL the CLI refuses (names the variable) instead of verifying an empty embedded log', { timeout: 60_000 }, async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  await serverLog(t, tdb.url, dir, 20);
  assert.equal(readAuditStorageMode(dir), 'database');

  setDatabaseUrl(t, undefined);
  for (const args of [['verify'], ['query'], ['tail'], ['export']]) {
    const r = await runCli(['--data-dir', dir, 'audit', ...args, '--format', 'json']);
    assert.equal(r.code, 2, `${args[0]}: ${r.stdout}`);
    assert.match(r.stderr, /^WARDEN_AUDIT_STORAGE_MISMATCH: .*PostgreSQL.*WARDEN_DATABASE_URL/, args[0]);
    assert.equal(r.stdout, '');
  }
  assert.equal(existsSync(join(dir, 'audit')), false, 'no embedded log was created');

  setDatabaseUrl(t, tdb.url);
  const { code, report } = await verify(dir);
  assert.equal(code, 0, JSON.stringify(report.errors));
  assert.equal(report.size, 20);
});

test('server mode: a database without the audit tables is a missing log (exit 1), and verify creates no tables', { timeout: 60_000 }, async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const logDb = await freshDatabase(t);
  if (!logDb) return;
  const dir = tempDir(t);
  await serverLog(t, logDb.url, dir, 5);
  setDatabaseUrl(t, tdb.url); // the wrong database
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.ok, false);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_LOG_MISSING');
  const q = await runCli(['--data-dir', dir, 'audit', 'query', '--format', 'json']);
  assert.equal(q.code, 2);
  assert.match(q.stderr, /^WARDEN_AUDIT_LOG_MISSING: /);
  const db = await openStore({ databaseUrl: tdb.url, migrate: false, poolSize: 1 });
  t.after(() => db.close());
  const r = await db.query<{ t: string | null }>(`SELECT to_regclass('audit_entries')::text AS t`);
  assert.equal(r.rows[0]!.t, null, 'reading did not migrate the database');
});

test('server mode: rows emptied by hand (tables kept) are a missing log, not a clean one', { timeout: 60_000 }, async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const db = await serverLog(t, tdb.url, dir, 5);
  await db.query('DELETE FROM audit_entries');
  await db.query('DELETE FROM audit_checkpoints');
  setDatabaseUrl(t, tdb.url);
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_LOG_MISSING');
});

test('server mode: editing the indexed columns to hide rows from `audit query` is named by verify, and query notices what it finds', { timeout: 60_000 }, async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const db = await serverLog(t, tdb.url, dir, 60);
  setDatabaseUrl(t, tdb.url);
  const teamA = 'ApiKey::"team-a"';
  const before = await runCli(['--data-dir', dir, 'audit', 'query', '--principal', teamA, '--decision', 'allow', '--format', 'json']);
  assert.equal(before.code, 0, before.stderr);
  const hidden = (JSON.parse(before.stdout) as { entries: { index: number }[] }).entries.map((e) => e.index).sort((a, b) => a - b);
  assert.ok(hidden.length > 5);

  // The walkthrough's edit: the rows' hashed entries are untouched, so hashes and checkpoints still hold.
  await db.query(`UPDATE audit_entries SET principal = 'ApiKey::"nobody"', decision = 'deny' WHERE principal = $1 AND decision = 'allow'`, [teamA]);
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.ok, false);
  assert.equal(report.firstBadIndex, hidden[0]);
  const modified = report.errors.filter((e) => e.code === 'WARDEN_AUDIT_ENTRY_MODIFIED');
  assert.deepEqual(modified.map((e) => e.index), hidden, 'every edited row is named');
  assert.match(modified[0]!.message, /columns principal, decision differ/);

  // Query by the forged column values: the records do not match by what was hashed, and the edit is reported.
  const forged = await runCli(['--data-dir', dir, 'audit', 'query', '--principal', 'ApiKey::"nobody"', '--format', 'json']);
  assert.equal(forged.code, 1);
  assert.deepEqual((JSON.parse(forged.stdout) as { entries: unknown[] }).entries, []);
  assert.match(forged.stderr, new RegExp(`^WARDEN_AUDIT_ENTRY_MODIFIED: .*entries ${[...hidden].reverse().slice(0, 3).join(', ')}`));

  // Every other derived column is checked too: ts, kind, action.
  await db.query(`UPDATE audit_entries SET principal = $1, decision = 'allow' WHERE principal = 'ApiKey::"nobody"'`, [teamA]);
  assert.equal((await verify(dir)).code, 0, 'restored');
  for (const [column, edit, undo] of [
    ['ts', `ts = ts - interval '1 day'`, `ts = ts + interval '1 day'`],
    ['kind', `kind = 'event'`, `kind = 'decision'`],
    ['action', `action = 'other'`, `action = 'inference'`],
  ] as const) {
    await db.query(`UPDATE audit_entries SET ${edit} WHERE idx = 7`);
    const edited = await verify(dir);
    await db.query(`UPDATE audit_entries SET ${undo} WHERE idx = 7`);
    assert.equal(edited.code, 1, column);
    assert.equal(edited.report.firstBadIndex, 7, column);
    assert.match(edited.report.errors[0]!.message, new RegExp(`column ${column} differs`), column);
  }
});

test('server mode: a checkpoint row whose size column was edited is reported', { timeout: 60_000 }, async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const db = await serverLog(t, tdb.url, dir, 10);
  setDatabaseUrl(t, tdb.url);
  // A raised size makes every later checkpoint look stale to the writers, who then store none.
  await db.query('UPDATE audit_checkpoints SET size = 1000000 WHERE seq = (SELECT max(seq) FROM audit_checkpoints)');
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.equal(report.errors[0]!.code, 'WARDEN_AUDIT_CHECKPOINT_INVALID');
  assert.match(report.errors[0]!.message, /stored size 1000000 differs/);
});

test('server mode: columns hold the redacted record, as hashed (never a credential the entry left out)', { timeout: 60_000 }, async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const db = await openStore({ databaseUrl: tdb.url, poolSize: 2 });
  t.after(() => db.close());
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig(), db });
  const key = 'wdn_abcdefgh_' + 'x'.repeat(32);
  await log.append(sampleRecord(1, { principal: `ApiKey::"${key}"`, action: `inference ${key}` }));
  await log.close();
  const r = await db.query<{ principal: string; action: string }>('SELECT principal, action FROM audit_entries');
  assert.equal(r.rows[0]!.principal, 'ApiKey::"[REDACTED]"');
  assert.equal(r.rows[0]!.action, 'inference [REDACTED]');
  setDatabaseUrl(t, tdb.url);
  assert.equal((await verify(dir)).code, 0);
});

test('server mode: a single writer that finds another writer\'s rows fails closed and says what to set', { timeout: 60_000 }, async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const dbA = await openStore({ databaseUrl: tdb.url, poolSize: 2 });
  const dbB = await openStore({ databaseUrl: tdb.url, poolSize: 2 });
  t.after(() => Promise.all([dbA.close(), dbB.close()]));
  const told: unknown[] = [];
  const a = await openAuditLog({ dataDir: dir, audit: auditConfig(), db: dbA, onFailClosed: (err) => told.push(err) });
  const b = await openAuditLog({ dataDir: dir, audit: auditConfig({ multipleWriters: true }), db: dbB });
  await a.append(sampleRecord(1));
  await b.append(sampleRecord(2));
  await assert.rejects(a.append(sampleRecord(3)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'WARDEN_CONFLICT');
    assert.match(err.message, /WARDEN_AUDIT_MULTIPLE_WRITERS=true/);
    return true;
  });
  await assert.rejects(a.append(sampleRecord(4)));
  assert.equal(told.length, 1, 'told once, when it starts failing closed');
  assert.equal((told[0] as { code?: string }).code, 'WARDEN_CONFLICT');
  await Promise.all([a.close().catch(() => undefined), b.close()]);
});

test('server mode: a row below index 0 is refused by the table, named by verify, and never shown by queries', async (t) => {
  const tdb = await freshDatabase(t);
  if (!tdb) return;
  const dir = tempDir(t);
  const db = await serverLog(t, tdb.url, dir, 20);
  const forged = JSON.stringify({ action: 'policy.update', decision: 'allow', kind: 'admin', principal: 'Admin::"adm_x"', resource: 'Policy::"p"', ts: sampleRecord(3).ts });
  const insert = (idx: number) =>
    db.query("INSERT INTO audit_entries (idx, leaf_hash, entry, ts, kind, principal, action, decision) VALUES ($1, $2, $3, $4, 'admin', 'Admin::\"adm_x\"', 'policy.update', 'allow')", [idx, leafHash(forged).toString('hex'), forged, sampleRecord(3).ts]);
  await assert.rejects(insert(-1), { code: '23514' }, 'CHECK (idx >= 0)');

  // A table from before the constraint (or one whose owner dropped it) may still hold such a row;
  // the migration itself must not fail on it (NOT VALID).
  await db.query('ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_idx_nonnegative');
  await insert(-1);
  await insert(-7);
  await db.query("DELETE FROM warden_migrations WHERE id = 'audit/0002_idx_nonnegative'");
  const again = await openStore({ databaseUrl: tdb.url, poolSize: 1 });
  await again.close();

  setDatabaseUrl(t, tdb.url);
  const v = await runCli(['--data-dir', dir, 'audit', 'verify', '--format', 'json']);
  assert.equal(v.code, 1);
  const report = JSON.parse(v.stdout) as AuditVerifyReport;
  assert.equal(report.ok, false);
  assert.equal(report.size, 20);
  assert.equal(report.errors[0]?.code, 'WARDEN_AUDIT_ENTRY_OUT_OF_RANGE');
  assert.match(report.errors[0]!.message, /2 stored rows have indexes below 0 \(-1, -7\)/);

  const q = await runCli(['--data-dir', dir, 'audit', 'query', '--kind', 'admin', '--format', 'json']);
  assert.deepEqual((JSON.parse(q.stdout) as { entries: unknown[] }).entries, []);
  const tail = await runCli(['--data-dir', dir, 'audit', 'tail', '-n', '100', '--format', 'json']);
  assert.deepEqual((JSON.parse(tail.stdout) as { entries: { index: number }[] }).entries.map((e) => e.index), Array.from({ length: 20 }, (_, i) => i));

  // The live writer (GET /audit/records) shows 0 <= idx < its size only.
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig(), db });
  t.after(() => log.close());
  await insert(20); // a row past the writer's head, written around it
  assert.deepEqual((await log.query({ limit: 100 })).map((e) => e.index), Array.from({ length: 20 }, (_, i) => 19 - i));
});

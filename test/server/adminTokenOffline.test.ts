// `warden admin-token create` writes the store and audit log that a running Warden owns, so it
// must refuse whenever one may be running, and only then.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { openAuditLog } from '../../src/audit/index.js';
import { openStore } from '../../src/store/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { auditConfig, sampleRecord, tempDir } from '../audit/helpers/fixtures.js';
import { runCli } from '../audit/helpers/cli.js';

function withDatabaseUrl(t: TestContext, url: string): void {
  const prev = process.env.WARDEN_DATABASE_URL;
  process.env.WARDEN_DATABASE_URL = url;
  t.after(() => {
    if (prev === undefined) delete process.env.WARDEN_DATABASE_URL;
    else process.env.WARDEN_DATABASE_URL = prev;
  });
}

test('PostgreSQL: admin-token create refuses unless the operator confirms every control plane is stopped; a live writer is not disturbed', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  const tdb = await createTestDatabase();
  t.after(() => tdb.drop());
  // The control plane's data dir is on another host: this one has no server.json.
  const dir = tempDir(t, 'warden-admin-token-pg-');
  const db = await openStore({ databaseUrl: tdb.url, poolSize: 2 });
  t.after(() => db.close());
  const live = await openAuditLog({ dataDir: dir, audit: auditConfig({ flushIntervalMs: 5 }), db });
  await live.append(sampleRecord(0));
  withDatabaseUrl(t, tdb.url);

  const refused = await runCli(['--data-dir', dir, 'admin-token', 'create']);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /^WARDEN_AUDIT_LOCKED: .*Stop every `warden server` using this database, then rerun with --control-plane-stopped/);
  assert.equal(refused.stdout, '');

  await live.append(sampleRecord(1));
  assert.equal(live.failingClosed, false, 'the live writer keeps writing');
  const count = async (sql: string) => (await db.query<{ n: number }>(sql)).rows[0]!.n;
  assert.equal(await count('SELECT count(*)::int AS n FROM audit_entries'), 2);
  assert.equal(await count('SELECT count(*)::int AS n FROM admin_tokens'), 0, 'no token was minted');
  await live.close();

  // With every control plane stopped, the confirmed command mints and audits; the next writer opens on top.
  const created = await runCli(['--data-dir', dir, 'admin-token', 'create', '--control-plane-stopped', '--format', 'json']);
  assert.equal(created.code, 0, created.stderr);
  assert.match((JSON.parse(created.stdout) as { token: string }).token, /^wdt_adm_/);
  assert.equal(await count(`SELECT count(*)::int AS n FROM audit_entries WHERE action = 'admin.token.create'`), 2);
  const next = await openAuditLog({ dataDir: dir, audit: auditConfig(), db });
  await next.append(sampleRecord(2));
  await next.close();
  assert.equal(await count('SELECT count(*)::int AS n FROM audit_entries'), 5);
});


// `warden admin-token create` writes the store and audit log that a running Warden owns, so it
// must refuse whenever one may be running, and only then.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** A live process that is not Warden, as a pid reused after a killed start would be. */
function liveProcess(t: TestContext, command: string, args: string[]): number {
  const proc = spawn(command, args, { stdio: 'ignore' });
  t.after(() => proc.kill('SIGKILL'));
  assert.ok(proc.pid);
  return proc.pid;
}

test('a server.json left by a killed start: a pid now naming another program is ignored, and a refusal says server.json can be deleted', async (t) => {
  const dir = tempDir(t, 'warden-admin-token-stale-');
  await (await openStore({ dataDir: dir })).close();
  mkdirSync(join(dir, 'keys'), { recursive: true });
  const serverJson = (pid: number) => writeFileSync(join(dir, 'server.json'), JSON.stringify({ pid }));
  withDatabaseUrl(t, '');

  // Linux: /proc/<pid>/cmdline shows `sleep`, not Warden or node, so the pid is stale.
  if (process.platform === 'linux') {
    serverJson(liveProcess(t, 'sleep', ['300']));
    const created = await runCli(['--data-dir', dir, 'admin-token', 'create', '--format', 'json']);
    assert.equal(created.code, 0, created.stderr);
    assert.match((JSON.parse(created.stdout) as { token: string }).token, /^wdt_adm_/);
  }

  // A node process may be Warden (a build run directly): refused, with the way out named.
  serverJson(liveProcess(t, process.execPath, ['-e', 'setInterval(() => {}, 1000)']));
  const refused = await runCli(['--data-dir', dir, 'admin-token', 'create']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^WARDEN_AUDIT_LOCKED: a Warden process \(pid \d+, from .*server\.json\) .*If no Warden process runs, .*server\.json is left by a killed start: delete it and retry/);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openStore, type Database } from '../../src/store/index.js';
import { WardenError } from '../../src/errors/index.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { requireOrSkip } from '../helpers/ci.js';

/**
 * A PostgreSQL restart or failover ends the backends of the clients a transaction holds
 * (57P01). That must fail the transaction, never the process, and the pool must not hand the
 * dead connection out again (pool size 1: the next query would get it).
 */
async function setup(t: TestContext): Promise<{ db: Database; admin: pg.Client } | null> {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return null;
  const tdb = await createTestDatabase();
  const db = await openStore({ databaseUrl: tdb.url, poolSize: 1 });
  const admin = new pg.Client({ connectionString: tdb.url });
  await admin.connect();
  t.after(async () => {
    await admin.end();
    await db.close();
    await tdb.drop();
  });
  return { db, admin };
}

/** Terminates a backend and waits (with a deadline) until it is gone, so its FATAL has been sent. */
async function terminate(admin: pg.Client, pid: number): Promise<void> {
  const r = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
  assert.equal(r.rows[0]!.ok, true);
  const deadline = Date.now() + 10_000;
  while ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount! > 0) {
    assert.ok(Date.now() < deadline, 'the terminated backend did not exit within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  // One more round trip on the admin connection: the FATAL on the transaction's socket, written
  // before the backend exited, has been read by now.
  await admin.query('SELECT 1');
}

const lostConnection = (e: unknown): boolean => {
  assert.ok(e instanceof WardenError, String(e));
  assert.equal(e.code, 'WARDEN_STORE_UNAVAILABLE');
  assert.match(e.message, /connection to PostgreSQL was lost during a transaction \(SQLSTATE 57P01\)/);
  return true;
};

test('a PostgreSQL backend ended while a transaction awaits between queries fails that transaction, not the process', async (t) => {
  const s = await setup(t);
  if (!s) return;
  await s.db.exec('CREATE TABLE conn_loss (n int)');
  await assert.rejects(
    s.db.transaction(async (tx) => {
      await tx.query('INSERT INTO conn_loss VALUES (1)');
      const pid = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      // The client sits idle inside the transaction while its backend is ended: pg emits
      // 'error' on it with no query to reject.
      await terminate(s.admin, pid);
      await tx.query('INSERT INTO conn_loss VALUES (2)');
    }),
    lostConnection,
  );
  // The pool (size 1) replaced the dead client: queries and transactions work again.
  assert.equal((await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM conn_loss')).rows[0]!.n, 0, 'nothing of the transaction was committed');
  await s.db.transaction(async (tx) => tx.query('INSERT INTO conn_loss VALUES (3)'));
  assert.deepEqual((await s.db.query<{ n: number }>('SELECT n FROM conn_loss')).rows, [{ n: 3 }]);
});

test('a PostgreSQL backend ended during a transaction query fails the transaction with WARDEN_STORE_UNAVAILABLE', async (t) => {
  const s = await setup(t);
  if (!s) return;
  let pid = 0;
  const tx = s.db.transaction(async (q) => {
    pid = (await q.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await q.query('SELECT pg_sleep(30)');
  });
  // Observed from the start: the rejection may come while the test is still waiting below.
  const outcome = tx.then(() => null, (e: unknown) => e);
  const deadline = Date.now() + 10_000;
  while ((await s.admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%'`, [pid])).rowCount === 0) {
    assert.ok(Date.now() < deadline, 'the transaction did not reach pg_sleep within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  await terminate(s.admin, pid);
  assert.ok(lostConnection(await outcome));
  assert.deepEqual((await s.db.query<{ one: number }>('SELECT 1 AS one')).rows, [{ one: 1 }]);
});

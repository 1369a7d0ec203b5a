// Scale-out first start: `warden server` replicas started together on one fresh PostgreSQL
// database must not fail on the migrations, and exactly one of them may mint and print the
// first-start admin token, which must then work.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { allMigrations, openStore, type Database } from '../../src/store/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';

const ROUNDS = 5;

async function freshDatabase(t: TestContext): Promise<string> {
  const tdb = await createTestDatabase();
  t.after(() => tdb.drop());
  return tdb.url;
}

async function openReplica(t: TestContext, url: string): Promise<Database> {
  const db = await openStore({ databaseUrl: url, poolSize: 2 });
  t.after(() => db.close());
  return db;
}

test('PostgreSQL: replicas migrating one fresh database at once all start (no unique violation on the migrations table)', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  for (let round = 0; round < ROUNDS; round++) {
    const url = await freshDatabase(t);
    const opened = await Promise.allSettled([0, 1, 2].map(() => openStore({ databaseUrl: url, poolSize: 2 })));
    for (const o of opened) if (o.status === 'fulfilled') await o.value.close();
    const failed = opened.filter((o) => o.status === 'rejected').map((o) => ((o as PromiseRejectedResult).reason as Error).message);
    assert.deepEqual(failed, [], `round ${round}: every replica's migrations succeed`);
    const db = await openReplica(t, url);
    const applied = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM warden_migrations')).rows[0]!.n;
    assert.equal(applied, allMigrations.length, 'each migration applied once');
  }
});

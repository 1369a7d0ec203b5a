// Scale-out first start: `warden server` replicas started together on one fresh PostgreSQL
// database must not fail on the migrations, and exactly one of them may mint and print the
// first-start admin token, which must then work.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AdminTokenRepository, SettingsRepository, allMigrations, openStore, type Database } from '../../src/store/index.js';
import { mintFirstStartCredentials, type FirstStartCredentials } from '../../src/server/firstStartCredentials.js';
import { publishDemoPolicy } from '../../src/server/demoPolicy.js';
import { PolicyRepository } from '../../src/policy/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';

/** The id part of an admin token (`wdt_<id>_<secret>`). */
const tokenId = (token: string): string => /^wdt_([a-z]+_[0-9a-f]{16})_/.exec(token)![1]!;

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

/** Starts minting on `db` while another start holds the first-start lock; resolves once it waits (the minting goes on). */
async function mintWhileLocked(db: Database, secret: Buffer): Promise<{ credentials: Promise<FirstStartCredentials> }> {
  let waiting = false;
  const credentials = mintFirstStartCredentials(db, secret, { demo: false, onWait: () => (waiting = true) });
  const deadline = Date.now() + 10_000;
  while (!waiting && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(waiting, true, 'the second start waits while the first holds the first-start lock');
  return { credentials };
}

interface Started {
  credentials: FirstStartCredentials;
  printed: string | null;
}

/**
 * Two starts at once, each as `startWarden` + the CLI do it: mint, start the listeners, print,
 * then `shown()`. A start's listeners take as long as it takes the other replica to reach the
 * credentials (to finish minting, or to wait for the lock), which is when a replica that does not
 * wait would take the first one's still unshown token for a dead start's and replace it.
 */
async function startTwo(dbs: [Database, Database], secret: Buffer): Promise<Started[]> {
  const reached = dbs.map(() => {
    let done!: () => void;
    const p = new Promise<void>((r) => (done = r));
    return { p, done };
  });
  const start = async (i: number): Promise<Started> => {
    const minting = mintFirstStartCredentials(dbs[i]!, secret, { demo: false, onWait: reached[i]!.done });
    void minting.then(reached[i]!.done, reached[i]!.done);
    const credentials = await minting;
    await reached[1 - i]!.p;
    const printed = credentials.adminToken;
    await credentials.shown();
    return { credentials, printed };
  };
  return Promise.all([start(0), start(1)]);
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

test('PostgreSQL: two replicas starting at once on a fresh database print one admin token, and it works', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  for (let round = 0; round < ROUNDS; round++) {
    const url = await freshDatabase(t);
    const secret = randomBytes(32);
    const dbs = (await Promise.all([openReplica(t, url), openReplica(t, url)])) as [Database, Database];
    const started = await startTwo(dbs, secret);

    const printed = started.filter((s) => s.printed !== null);
    assert.equal(printed.length, 1, `round ${round}: exactly one replica prints an admin token`);
    const other = started.find((s) => s.printed === null)!;
    assert.equal(other.credentials.createdByAnotherStart, true, 'the other one says another replica printed it');
    assert.equal(other.credentials.demoKey, null);

    const tokens = new AdminTokenRepository(dbs[0], secret);
    assert.deepEqual(await tokens.verify(printed[0]!.printed!), { id: tokenId(printed[0]!.printed!), role: 'admin' }, 'the printed token authenticates');
    assert.equal(await tokens.count(), 1, 'no other token was minted');
    assert.deepEqual(await new SettingsRepository(dbs[0]).get('firstStart.unshownCredentials'), {}, 'nothing left unshown');
  }
});

test('PostgreSQL: a replica arriving after the first minted, before it printed, waits and says another replica printed the token', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  const url = await freshDatabase(t);
  const secret = randomBytes(32);
  const [one, two] = [await openReplica(t, url), await openReplica(t, url)];
  const first = await mintFirstStartCredentials(one, secret, { demo: false });
  assert.ok(first.adminToken);
  const second = await mintWhileLocked(two, secret);
  await first.shown();
  const credentials = await second.credentials;
  assert.equal(credentials.adminToken, null);
  assert.equal(credentials.createdByAnotherStart, true, 'it says another replica printed the token (the README promises the line)');
  await credentials.release();
});

test('PostgreSQL: a replica that dies before printing lets the waiting one mint and print a working token', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  const url = await freshDatabase(t);
  const secret = randomBytes(32);
  const dying = await openStore({ databaseUrl: url, poolSize: 2 });
  const survivor = await openReplica(t, url);
  const first = await mintFirstStartCredentials(dying, secret, { demo: false });
  assert.ok(first.adminToken);
  const second = await mintWhileLocked(survivor, secret);
  // Its process ends without printing: the database session, and with it the lock, goes away.
  await dying.close();
  const credentials = await second.credentials;
  assert.ok(credentials.adminToken, 'the survivor mints a new token');
  assert.equal(credentials.createdByAnotherStart, false);
  await credentials.shown();
  const tokens = new AdminTokenRepository(survivor, secret);
  assert.deepEqual(await tokens.verify(credentials.adminToken), { id: tokenId(credentials.adminToken), role: 'admin' });
  assert.equal(await tokens.verify(first.adminToken), null, 'the never-shown token was discarded');
});

test('embedded store: two starts on one PGlite database take turns as well', async (t) => {
  const db = await openStore({});
  t.after(() => db.close());
  const secret = randomBytes(32);
  const started = await startTwo([db, db], secret);
  assert.equal(started.filter((s) => s.printed !== null).length, 1);
  const printed = started.find((s) => s.printed !== null)!.printed!;
  assert.deepEqual(await new AdminTokenRepository(db, secret).verify(printed), { id: tokenId(printed), role: 'admin' });
  assert.equal(started.find((s) => s.printed === null)!.credentials.createdByAnotherStart, true);
});

test('PostgreSQL: two `warden up --demo` starting at once on a fresh database publish the demo policy once', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  for (let round = 0; round < ROUNDS; round++) {
    const url = await freshDatabase(t);
    const dbs = [await openReplica(t, url), await openReplica(t, url)];
    const published = await Promise.allSettled(dbs.map((db) => publishDemoPolicy(db)));
    const failed = published.filter((p) => p.status === 'rejected').map((p) => ((p as PromiseRejectedResult).reason as Error).message);
    assert.deepEqual(failed, [], `round ${round}: neither start fails`);
    assert.deepEqual(
      published.map((p) => (p as PromiseFulfilledResult<number | null>).value).sort(),
      [1, null],
      'one start publishes version 1, the other finds it',
    );
    assert.equal((await new PolicyRepository(dbs[0]!).list()).length, 1, 'one policy version');
  }
});

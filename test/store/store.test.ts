import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openStore,
  migrate,
  splitStatements,
  ApiKeyRepository,
  AdminTokenRepository,
  SettingsRepository,
  hashApiKey,
  API_KEY_PATTERN,
  type Database,
} from '../../src/store/index.js';
import { WardenError } from '../../src/errors/index.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { requireOrSkip } from '../helpers/ci.js';

const secret = randomBytes(32);

/** The same suite runs against every backend: one SQL dialect, same behaviour. */
function storeSuite(name: string, open: () => Promise<{ db: Database; cleanup(): Promise<void> } | null>): void {
  const slug = name.split(' ')[0]!.toLowerCase();
  describe(`store on ${name}`, () => {
    let db: Database | null = null;
    let cleanup: (() => Promise<void>) | null = null;

    before(async () => {
      const r = await open();
      if (r) {
        db = r.db;
        cleanup = r.cleanup;
      }
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    const needDb = (t: TestContext): Database | null => {
      if (!requireOrSkip(t, db !== null, `${name} database`)) return null;
      return db;
    };

    test('migrations are recorded and re-running applies nothing', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const ids = (await d.query<{ id: string }>('SELECT id FROM warden_migrations ORDER BY id')).rows.map((r) => r.id);
      assert.ok(ids.includes('core/0001_settings_and_api_keys'));
      assert.deepEqual(await migrate(d), []);
    });

    test('a failing migration leaves nothing of itself behind', async (t) => {
      const d = needDb(t);
      if (!d) return;
      await assert.rejects(
        migrate(d, [{ id: 'test/0001_broken', sql: 'CREATE TABLE half_done (id int); SELECT * FROM no_such_table' }]),
        (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_STORE_MIGRATION_FAILED' && /test\/0001_broken/.test(e.message),
      );
      const exists = await d.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'");
      assert.equal(exists.rowCount, 0);
      const recorded = await d.query("SELECT 1 FROM warden_migrations WHERE id = 'test/0001_broken'");
      assert.equal(recorded.rowCount, 0);
    });

    test('duplicate migration ids are refused', async (t) => {
      const d = needDb(t);
      if (!d) return;
      await assert.rejects(migrate(d, [{ id: 'x/1', sql: 'SELECT 1' }, { id: 'x/1', sql: 'SELECT 1' }]), /duplicate migration id/);
    });

    test('API keys: shown once, stored only as HMAC, listed without hashes', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const repo = new ApiKeyRepository(d, secret);
      const { key, record } = await repo.create({ name: `team-${slug}`, scopes: ['model:iris'] });
      assert.match(key, /^wdn_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      const raw = await d.query<Record<string, unknown>>('SELECT * FROM api_keys WHERE id = $1', [record.id]);
      const row = raw.rows[0]!;
      assert.equal(row.hash, hashApiKey(secret, key));
      // The secret is base64url and may itself contain "_": take it by the key pattern, not by split.
      const keySecret = API_KEY_PATTERN.exec(key)![2]!;
      assert.ok(!JSON.stringify(row).includes(keySecret), 'the secret part of the key is not stored');
      const listed = await repo.list();
      assert.ok(listed.some((k) => k.id === record.id));
      assert.ok(listed.every((k) => !('hash' in k)), 'list() never returns hashes');
      assert.deepEqual(listed.find((k) => k.id === record.id)!.scopes, ['model:iris']);
    });

    test('API keys: revoke by name is idempotent and unknown keys give WARDEN_NOT_FOUND', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const repo = new ApiKeyRepository(d, secret);
      const { record } = await repo.create({ name: `rev-${slug}` });
      const first = await repo.revoke(record.name);
      assert.ok(first.revokedAt);
      const second = await repo.revoke(record.id);
      assert.equal(second.revokedAt!.getTime(), first.revokedAt!.getTime());
      await assert.rejects(repo.revoke('nope'), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_NOT_FOUND');
    });

    test('API keys: a name in use by an active key is refused (names identify keys and their default principal); free again once revoked', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const repo = new ApiKeyRepository(d, secret);
      const first = await repo.create({ name: `dup-${slug}`, scopes: ['model:cheap'] });
      await assert.rejects(repo.create({ name: `dup-${slug}`, scopes: ['model:*'] }), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_CONFLICT' && e.message.includes(`dup-${slug}`));
      await repo.revoke(first.record.id);
      const second = await repo.create({ name: `dup-${slug}` });
      assert.notEqual(second.record.id, first.record.id);
    });

    test('API keys: concurrent creates of one name make exactly one key', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const repo = new ApiKeyRepository(d, secret);
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => repo.create({ name: `race-${slug}`, scopes: [i % 2 ? 'model:*' : 'model:iris'] })));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as WardenError).code, 'WARDEN_CONFLICT');
      assert.equal((await repo.list()).filter((k) => k.name === `race-${slug}` && !k.revokedAt).length, 1);
    });

    test('API keys: revoke names exactly one key (the active one of a reused name), and a name may not be another key\'s id or prefix', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const repo = new ApiKeyRepository(d, secret);
      const old = await repo.create({ name: `reuse-${slug}` });
      await repo.revoke(`reuse-${slug}`);
      const current = await repo.create({ name: `reuse-${slug}` });
      const revoked = await repo.revoke(`reuse-${slug}`);
      assert.equal(revoked.id, current.record.id, 'the active key of that name, not the old one');
      assert.ok(revoked.revokedAt);
      assert.equal((await repo.revoke(`reuse-${slug}`)).id, current.record.id, 'revoking again answers the same key');
      assert.equal((await repo.find(old.record.id))!.id, old.record.id);
      const victim = await repo.create({ name: `victim-${slug}` });
      for (const name of [victim.record.id, victim.record.prefix]) {
        await assert.rejects(repo.create({ name }), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_CONFLICT' && /id or prefix of another key/.test(e.message));
      }
      assert.equal((await repo.find(`victim-${slug}`))!.revokedAt, null, 'nothing else was revoked');
    });

    test('API keys: bad names and TTLs are input errors', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const repo = new ApiKeyRepository(d, secret);
      await assert.rejects(repo.create({ name: 'has space' }), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_INPUT_INVALID');
      await assert.rejects(repo.create({ name: 'ok', ttlSeconds: -5 }), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_INPUT_INVALID');
      const { record } = await repo.create({ name: `ttl-${slug}`, ttlSeconds: 60, now: new Date('2030-01-01T00:00:00Z') });
      assert.equal(record.expiresAt!.toISOString(), '2030-01-01T00:01:00.000Z');
    });

    test('admin tokens verify only with the right secret and format', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const repo = new AdminTokenRepository(d, secret);
      const { id, token } = await repo.create('test');
      assert.deepEqual(await repo.verify(token), { id, role: 'admin' });
      assert.equal(await repo.verify(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')), null);
      assert.equal(await repo.verify('garbage'), null);
      assert.equal(await new AdminTokenRepository(d, randomBytes(32)).verify(token), null);
      // PEP tokens: their own role, listed without secrets, revocable only as PEP tokens.
      const pep = await repo.create('gw-1', 'pep');
      assert.deepEqual(await repo.verify(pep.token), { id: pep.id, role: 'pep' });
      const listed = await repo.list('pep');
      assert.ok(listed.some((x) => x.id === pep.id && x.name === 'gw-1' && x.revokedAt === null));
      assert.ok(!JSON.stringify(listed).includes(pep.token));
      assert.equal(await repo.revoke(id, 'pep'), false, 'an admin token is not revoked through the PEP list');
      assert.equal(await repo.revoke(pep.id, 'pep'), true);
      assert.equal(await repo.revoke(pep.id, 'pep'), false);
      assert.equal(await repo.verify(pep.token), 'revoked', 'its holder learns why it is refused');
      assert.equal(await new AdminTokenRepository(d, randomBytes(32)).verify(pep.token), null, 'nobody else does');
      assert.equal(await repo.verify(pep.token.slice(0, -1) + (pep.token.endsWith('A') ? 'B' : 'A')), null);
      assert.deepEqual(await repo.verify(token), { id, role: 'admin' });
    });

    test('transactions commit all or nothing', async (t) => {
      const d = needDb(t);
      if (!d) return;
      const settings = new SettingsRepository(d);
      await settings.set('tx-test', { n: 1 });
      await assert.rejects(
        d.transaction(async (tx) => {
          await new SettingsRepository(tx).set('tx-test', { n: 2 });
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await settings.get('tx-test'), { n: 1 });
      await d.transaction(async (tx) => new SettingsRepository(tx).set('tx-test', { n: 3 }));
      assert.deepEqual(await settings.get('tx-test'), { n: 3 });
    });
  });
}

storeSuite('PGlite (embedded, on disk)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-store-'));
  const db = await openStore({ dataDir: dir });
  assert.equal(statSync(join(dir, 'db')).mode & 0o777, 0o700);
  return { db, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

storeSuite('PostgreSQL (server)', async () => {
  if (!(await postgresAvailable())) return null;
  const tdb = await createTestDatabase();
  const db = await openStore({ databaseUrl: tdb.url });
  return { db, cleanup: () => tdb.drop() };
});

test('an unreachable PostgreSQL is a clear WARDEN_STORE_UNAVAILABLE without the password', async () => {
  await assert.rejects(openStore({ databaseUrl: 'postgres://warden:s3cret-pw@127.0.0.1:1/none' }), (e: unknown) => {
    assert.ok(e instanceof WardenError);
    assert.equal(e.code, 'WARDEN_STORE_UNAVAILABLE');
    assert.ok(!e.message.includes('s3cret-pw'));
    return true;
  });
});

test('migration scripts split on top-level semicolons only', () => {
  assert.deepEqual(splitStatements('CREATE TABLE a (x int);\n  ;SELECT 1; DO $$ BEGIN PERFORM 1; END $$;'), ['CREATE TABLE a (x int)', 'SELECT 1', 'DO $$ BEGIN PERFORM 1; END $$']);
});

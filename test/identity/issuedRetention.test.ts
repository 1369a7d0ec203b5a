// Records of issued certificates are pruned once expired longer than identity.issuedRetentionDays
// (they grew by every renewal before), on PGlite and PostgreSQL; revocations are not affected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Crl } from '@peculiar/x509';
import { IssuedSvidRepository, createWorkloadKey } from '../../src/identity/index.js';
import { openStore, type Database } from '../../src/store/index.js';
import { loadConfig } from '../../src/config/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { startControlPlane, tempDir } from './helpers/controlPlane.js';

const DAY = 86_400_000;

async function until(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

/** Rows that expired 30, 8 and 6 days ago, and one valid for another hour. */
async function seed(db: Database, spiffeId: string): Promise<void> {
  const repo = new IssuedSvidRepository(db);
  const now = Date.now();
  const rows = [
    ['aa01', now - 30 * DAY],
    ['aa02', now - 8 * DAY],
    ['aa03', now - 6 * DAY],
    ['aa04', now + 3600_000],
  ] as const;
  await Promise.all(rows.map(([serial, notAfter]) => repo.record({ serial, spiffeId, kind: 'x509', notBefore: new Date(notAfter - 3600_000), notAfter: new Date(notAfter) })));
}

async function serials(db: Database): Promise<string[]> {
  const r = await db.query<{ serial: string }>('SELECT serial FROM identity_svids ORDER BY serial');
  return r.rows.map((row) => row.serial);
}

async function pruneKeepsRecent(db: Database): Promise<void> {
  await seed(db, 'spiffe://warden.local/ns/ml/sa/old');
  const repo = new IssuedSvidRepository(db);
  assert.equal(await repo.prune(new Date(Date.now() - 7 * DAY)), 2, 'the two records expired more than 7 days ago');
  assert.deepEqual(await serials(db), ['aa03', 'aa04'], 'recently expired and valid records are kept');
  assert.equal(await repo.prune(new Date(Date.now() - 7 * DAY)), 0, 'a second run finds nothing');
}

test('IssuedSvidRepository.prune deletes records expired before the cut-off and keeps the rest (PGlite)', async (t) => {
  const db = await openStore({});
  t.after(() => db.close());
  await pruneKeepsRecent(db);
});

test('IssuedSvidRepository.prune on PostgreSQL', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  const tdb = await createTestDatabase();
  t.after(() => tdb.drop());
  const db = await openStore({ databaseUrl: tdb.url, poolSize: 2 });
  t.after(() => db.close());
  await pruneKeepsRecent(db);
});

test('the control plane prunes records past identity.issuedRetentionDays (at start, then hourly); an ID revocation still covers its valid certificates', async (t) => {
  const db = await openStore({});
  t.after(() => db.close());
  const spiffeId = 'spiffe://warden.local/ns/ml/sa/old';
  await seed(db, spiffeId);
  const cp = await startControlPlane({ db });
  t.after(() => cp.close());
  assert.equal(cp.ctx.config.identity.issuedRetentionDays, 7, 'default retention: 7 days');
  // The control plane's own listener certificate is recorded too: only the seeded rows are looked at.
  const seeded = async () => (await serials(db)).filter((s) => s.startsWith('aa0'));
  assert.ok(await until(async () => (await seeded()).length === 2, 15_000), `pruned at start: ${(await seeded()).join(',')}`);
  assert.deepEqual(await seeded(), ['aa03', 'aa04']);

  // Revoking the whole ID still lists its unexpired certificate on the CRL, and a fresh one too.
  const key = createWorkloadKey();
  const fresh = await cp.ca.issueX509SvidFromCsr(key.csrPem, { spiffeId });
  await cp.ca.revoke({ spiffeId });
  assert.ok(cp.ca.revocations.isRevoked(spiffeId, fresh.serial));
  const crl = new X509Crl((await cp.ca.crl()).pem);
  const listed = crl.entries.map((e) => e.serialNumber.toLowerCase().replace(/^0+/, ''));
  for (const s of ['aa04', fresh.serial]) assert.ok(listed.includes(s.toLowerCase().replace(/^0+/, '')), `CRL lists ${s}: ${listed.join(',')}`);
});

test('identity.issuedRetentionDays is validated: at least 1 day', () => {
  const dir = tempDir();
  assert.equal(loadConfig({ dataDir: dir, cwd: dir, env: {}, overrides: { 'identity.issuedRetentionDays': 30 } }).identity.issuedRetentionDays, 30);
  assert.throws(() => loadConfig({ dataDir: dir, cwd: dir, env: {}, overrides: { 'identity.issuedRetentionDays': 0 } }), /issuedRetentionDays/);
});

// Several `warden server` replicas on one PostgreSQL database: a change made through one reaches
// the PEPs attached to another within seconds (LISTEN/NOTIFY), not at its ~100 s periodic refresh.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden, type RunningWarden } from '../../src/server/index.js';
import { createWorkloadKey, IdentityClient, normalizeSerial, RevocationFeed, RevocationList, type RevocationEntry } from '../../src/identity/index.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { requireOrSkip } from '../helpers/ci.js';
import { removeDir, tempDataDir } from '../helpers/warden.js';

type Call = (method: 'GET' | 'POST', url: string, payload?: object) => Promise<{ status: number; json: Record<string, unknown> }>;

interface Replicas {
  a: RunningWarden;
  b: RunningWarden;
  /** Admin calls through replica A (the token is in the shared database: valid on both). */
  callA: Call;
  token: string;
  databaseUrl: string;
}

/** Two control planes (no in-process gateway) on one fresh database and one data dir (one CA, one server secret). */
async function twoReplicas(t: TestContext): Promise<Replicas | null> {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return null;
  const database = await createTestDatabase();
  const dataDir = tempDataDir('warden-replicas-');
  const config = loadConfig({ dataDir, env: {}, overrides: { 'server.port': 0, 'database.url': database.url } });
  const logger = createLogger({ level: 'silent' });
  const started: RunningWarden[] = [];
  t.after(async () => {
    for (const w of started) await w.close();
    await database.drop();
    removeDir(dataDir);
  });
  // One after the other: the first creates the CA and the admin token the second reuses.
  const a = await startWarden({ config, logger, demo: false, gateway: false });
  started.push(a);
  await a.credentialsShown();
  const b = await startWarden({ config, logger, demo: false, gateway: false });
  started.push(b);
  const token = a.ready.adminToken!;
  const callA: Call = async (method, url, payload) => {
    const r = await a.controlPlane.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, payload });
    return { status: r.statusCode, json: r.json() as Record<string, unknown> };
  };
  return { a, b, callA, token, databaseUrl: database.url };
}

/** Well under the 100 s periodic refresh, generous for two shared cores. */
const WITHIN_MS = 10_000;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = WITHIN_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    assert.ok(Date.now() < deadline, `${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function keyIn(w: RunningWarden, id: string) {
  const snap = w.controlPlane.snapshots.current();
  return snap ? [...snap.apiKeys.values()].find((k) => k.id === id) : undefined;
}

/** How the replicas' LISTEN connections name themselves in pg_stat_activity (documented in docs/operations). */
const LISTENER_APPLICATION_NAME = 'warden-change-listener';

/** Both replicas' LISTEN connections are in place (each resyncs once LISTEN is issued). */
async function listenersUp(databaseUrl: string, count: number, notAmong: number[] = []): Promise<number[]> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    let pids: number[] = [];
    await until(`${count} change listeners connected`, async () => {
      const r = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query = 'LISTEN warden_changes' AND datname = current_database()", [LISTENER_APPLICATION_NAME]);
      pids = r.rows.map((x) => x.pid).filter((p) => !notAmong.includes(p));
      return pids.length === count;
    });
    return pids;
  } finally {
    await admin.end();
  }
}

test('an API key created and revoked through replica A reaches replica B’s PEP snapshot within seconds', async (t) => {
  const r = await twoReplicas(t);
  if (!r) return;
  await listenersUp(r.databaseUrl, 2);
  // Each listener's first connect rereads everything once: let A's rebuild from that settle.
  let before = -1;
  await until('replica A’s snapshot version settles', async () => {
    const v = r.a.controlPlane.snapshots.current()!.version;
    await new Promise((res) => setTimeout(res, 150));
    const settled = v === before && v === r.a.controlPlane.snapshots.current()!.version;
    before = v;
    return settled;
  });
  const created = await r.callA('POST', '/keys', { name: 'cross-replica', scopes: ['model:iris'] });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const id = (created.json.record as { id: string }).id;
  await until('replica B’s snapshot has the new key', () => keyIn(r.b, id) !== undefined);
  assert.equal(keyIn(r.b, id)?.revokedAt, null);
  // A's own notice came back to it too (B's arrived at the same moment): it skipped it, so its
  // PEPs got one snapshot version for the change, not a second identical one.
  const probe = await r.callA('POST', '/keys', { name: 'probe', scopes: ['model:iris'] });
  await until('replica B’s snapshot has the probe key', () => keyIn(r.b, (probe.json.record as { id: string }).id) !== undefined);
  assert.equal(r.a.controlPlane.snapshots.current()!.version, before + 2, 'one snapshot version per change on the replica that made it');

  const revoked = await r.callA('POST', `/keys/${id}/revoke`);
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  assert.ok(keyIn(r.a, id)?.revokedAt instanceof Date, 'replica A enforces it at once');
  await until('replica B’s gateways no longer accept the revoked key', () => keyIn(r.b, id)?.revokedAt instanceof Date);
});

test('an SVID revoked through replica A is pushed down replica B’s revocation stream, once', async (t) => {
  const r = await twoReplicas(t);
  if (!r) return;
  // A workload's agent streams revocations from replica B, authenticated by its own SVID.
  const key = createWorkloadKey();
  const svid = await r.a.ca.issueX509SvidFromCsr(key.csrPem, { spiffeId: `spiffe://${r.a.ca.trustDomain}/agent/watcher` });
  const client = new IdentityClient(r.b.ready.adminUrl, { bundlePem: r.a.ca.bundlePem(), chainPem: svid.chainPem, keyPem: key.keyPem });
  const feed = new RevocationFeed(client, new RevocationList(), { minMs: 50, maxMs: 500 });
  const pushed: RevocationEntry[] = [];
  feed.on('change', (entries: RevocationEntry[]) => pushed.push(...entries));
  const connected = new Promise<void>((resolve) => feed.once('connected', () => resolve()));
  feed.start();
  t.after(async () => {
    feed.stop();
    await client.dispatcher.close().catch(() => undefined);
  });
  await connected;

  const target = `spiffe://${r.a.ca.trustDomain}/ns/prod/sa/stolen`;
  const revoked = await r.callA('POST', '/identity/revoke', { spiffeId: target, reason: 'key compromise' });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  await until('replica B pushed the revocation down its stream', () => feed.list.hasSpiffeId(target));
  assert.ok(r.b.ca.revocations.hasSpiffeId(target), 'replica B refuses the SVID itself too');
  // A second change on A (one certificate, by serial) arrives too, and nothing is pushed twice.
  const other = await r.a.ca.issueX509SvidFromCsr(createWorkloadKey().csrPem, { spiffeId: `spiffe://${r.a.ca.trustDomain}/ns/prod/sa/other` });
  const revokedSerial = await r.callA('POST', '/identity/revoke', { serial: other.serial });
  assert.equal(revokedSerial.status, 200, JSON.stringify(revokedSerial.json));
  await until('the serial revocation arrives too', () => feed.list.hasSerial(other.serial));
  assert.deepEqual(
    pushed.map((e) => `${e.kind}:${e.value}`),
    [`spiffe_id:${target}`, `serial:${normalizeSerial(other.serial)}`],
    'each revocation is pushed once',
  );
});

test('a PEP token revoked through replica A ends the snapshot stream it opened on replica B', async (t) => {
  const r = await twoReplicas(t);
  if (!r) return;
  const pep = await r.callA('POST', '/pep/tokens', { name: 'gw-b' });
  assert.equal(pep.status, 201, JSON.stringify(pep.json));
  const agent = new Agent({ connect: { ca: r.b.ca.bundlePem(), servername: 'localhost' } });
  t.after(() => agent.close());
  const res = await request(`${r.b.ready.adminUrl}/api/v1/pep/stream?name=gw-b`, { dispatcher: agent, headers: { authorization: `Bearer ${pep.json.token as string}` } });
  assert.equal(res.statusCode, 200);
  let ended = false;
  const drained = (async () => {
    for await (const chunk of res.body) void chunk;
    ended = true;
  })().catch(() => {
    ended = true;
  });

  const revoked = await r.callA('POST', `/pep/tokens/${pep.json.id as string}/revoke`);
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  await until('replica B ended the revoked token’s stream', () => ended);
  await drained;
});

test('a change-notice connection ended by PostgreSQL is reopened, and later changes still arrive', async (t) => {
  const r = await twoReplicas(t);
  if (!r) return;
  const before = await listenersUp(r.databaseUrl, 2);
  // Ended here, not in t.after: the database is dropped WITH (FORCE) there, which would end it under us.
  const admin = new pg.Client({ connectionString: r.databaseUrl });
  await admin.connect();
  try {
    for (const pid of before) assert.equal((await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid])).rows[0]!.ok, true);
  } finally {
    await admin.end();
  }
  // New backends, not the ended ones: both replicas reconnected (and reread everything once).
  await listenersUp(r.databaseUrl, 2, before);

  const created = await r.callA('POST', '/keys', { name: 'after-reconnect' });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const id = (created.json.record as { id: string }).id;
  await until('replica B’s snapshot has the key created after the reconnect', () => keyIn(r.b, id) !== undefined);
  const revoked = await r.callA('POST', `/keys/${id}/revoke`);
  assert.equal(revoked.status, 200);
  await until('replica B’s snapshot has it revoked', () => keyIn(r.b, id)?.revokedAt instanceof Date);
});

// The control plane's table of remote PEPs stays bounded: any PEP token may name PEPs, so names are
// capped per token and overall, and forgotten once not seen for a while (unless still streaming).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import Fastify from 'fastify';
import { WardenError } from '../../src/errors/index.js';
import { pepRoutes } from '../../src/server/routes/pep.js';
import { SnapshotPublisher } from '../../src/server/SnapshotPublisher.js';
import { PepTable, DEFAULT_PEP_TABLE_LIMITS } from '../../src/server/PepTable.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';

/** The real PEP routes and snapshot publisher; the PEP token is whatever x-test-token says (auth is not under test). */
async function pepApi(t: TestContext) {
  const ctx = { events: new EventEmitter(), audit: {}, db: {}, serverSecret: new Uint8Array(32) } as unknown as ControlPlaneContext;
  const publisher = new SnapshotPublisher(ctx);
  const app = Fastify();
  app.decorateRequest('adminId', undefined);
  app.addHook('onRequest', async (request) => {
    request.adminId = String(request.headers['x-test-token'] ?? 'pep_token_1');
  });
  app.setErrorHandler((err, _req, reply) => {
    const e = err instanceof WardenError ? err : new WardenError('WARDEN_INTERNAL');
    void reply.code(e.status).send({ error: { code: e.code, message: e.message } });
  });
  await app.register(async (api) => pepRoutes(api, ctx, publisher), { prefix: '/api/v1' });
  t.after(async () => {
    publisher.close();
    await app.close();
  });
  const status = async (name: string, token = 'pep_token_1') => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/pep/status', headers: { 'x-test-token': token, 'content-type': 'application/json' }, payload: { name, snapshotVersion: 1, policyVersion: 1 } });
    return { status: r.statusCode, json: r.json() as { ok?: boolean; error?: { code: string; message: string } } };
  };
  const peps = async () => (await app.inject({ method: 'GET', url: '/api/v1/pep/peps' })).json() as { peps: { name: string }[] };
  return { app, status, peps };
}

test('POST /pep/status: one PEP token cannot grow the table without bound; past its cap a new name gets 409 WARDEN_CONFLICT, known names still report', async (t) => {
  const api = await pepApi(t);
  const cap = DEFAULT_PEP_TABLE_LIMITS.maxPerToken;
  let refused: { status: number; json: { error?: { code: string; message: string } } } | null = null;
  for (let i = 0; i < cap + 20 && !refused; i++) {
    const r = await api.status(`fake-pep-${i}`);
    if (r.status !== 200) refused = r;
  }
  assert.ok(refused, `a flood of ${cap + 20} names is refused at some point`);
  assert.equal(refused.status, 409);
  assert.equal(refused.json.error?.code, 'WARDEN_CONFLICT');
  assert.match(refused.json.error!.message, /PEP names/);
  assert.equal((await api.peps()).peps.length, cap);
  assert.equal((await api.status('fake-pep-0')).status, 200, 'a name already known keeps reporting');
  assert.equal((await api.status('gw-1', 'pep_token_2')).status, 200, 'another token is not locked out');
  const stream = await api.app.inject({ method: 'GET', url: '/api/v1/pep/stream?name=one-more' });
  assert.equal(stream.statusCode, 409, 'a snapshot stream under a new name is refused the same way, before it starts');
});

test('PepTable: caps per token and overall, expiry after the last sighting, open streams never expire', () => {
  let now = 1_000_000;
  const table = new PepTable({ maxPeps: 4, maxPerToken: 2, expireAfterMs: 60_000 }, () => now);
  table.report('a', 'gw-1');
  table.report('a', 'gw-2', { snapshotVersion: 3, policyVersion: 2 });
  assert.throws(() => table.report('a', 'gw-3'), (e: WardenError) => e.code === 'WARDEN_CONFLICT' && e.status === 409);
  table.report('b', 'gw-1'); // same name, another token: its own entry
  table.report('c', 'gw-9');
  assert.throws(() => table.report('d', 'gw-1'), (e: WardenError) => e.code === 'WARDEN_CONFLICT' && /at most 4/.test(e.message));
  assert.deepEqual(
    table.list().find((p) => p.name === 'gw-2'),
    { name: 'gw-2', snapshotVersion: 3, policyVersion: 2, connectedAt: new Date(now).toISOString(), lastSeenAt: new Date(now).toISOString() },
  );

  const closeStream = table.streamOpened('a', 'gw-1');
  now += 30_000;
  table.report('c', 'gw-9');
  now += 40_000; // 70 s after the others were last seen, 40 s after gw-9
  assert.deepEqual(table.list().map((p) => p.name).sort(), ['gw-1', 'gw-9'], 'a:gw-1 streams; c:gw-9 was seen lately');
  table.report('a', 'gw-3');
  table.report('d', 'gw-1');
  closeStream();
  now += 60_000;
  assert.deepEqual(table.list(), [], 'a closed stream expires like the rest');
  assert.equal(table.size, 0);
});

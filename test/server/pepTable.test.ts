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

test('POST /pep/status: a flood of names under one token keeps the table at its cap, and rollouts of new pod names are never refused', async (t) => {
  const api = await pepApi(t);
  const cap = DEFAULT_PEP_TABLE_LIMITS.maxPerToken;
  // Three rollouts of 180 pods each (new names every time) on one shared token, then a flood.
  for (let rollout = 0; rollout < 3; rollout++) {
    for (let i = 0; i < 180; i++) assert.equal((await api.status(`pod-${rollout}-${i}`)).status, 200, `rollout ${rollout} pod ${i}`);
  }
  for (let i = 0; i < cap + 20; i++) assert.equal((await api.status(`fake-pep-${i}`)).status, 200);
  const listed = (await api.peps()).peps.map((p) => p.name);
  assert.equal(listed.length, cap, 'bounded');
  assert.ok(listed.includes(`fake-pep-${cap + 19}`) && !listed.includes('pod-0-0'), 'the names seen longest ago made room');
  assert.equal((await api.status('gw-1', 'pep_token_2')).status, 200, 'another token is not locked out');
});

test('PepTable: a new name past a cap replaces the entry seen longest ago without an open stream; only streaming entries can fill it', () => {
  let now = 1_000_000;
  const table = new PepTable({ maxPeps: 4, maxPerToken: 2, expireAfterMs: 60_000 }, () => now);
  table.report('a', 'gw-1');
  now += 1;
  table.report('a', 'gw-2', { snapshotVersion: 3, policyVersion: 2 });
  now += 1;
  table.report('a', 'gw-3'); // token a's cap: gw-1, seen longest ago, makes room
  assert.deepEqual(table.list().map((p) => p.name), ['gw-2', 'gw-3']);
  assert.deepEqual(table.list().find((p) => p.name === 'gw-2'), { name: 'gw-2', snapshotVersion: 3, policyVersion: 2, connectedAt: new Date(now - 1).toISOString(), lastSeenAt: new Date(now - 1).toISOString() });

  // Both of a's entries stream: a third name is refused as a status report, and left out (not refused) as a stream.
  const closeGw2 = table.streamOpened('a', 'gw-2');
  const closeGw3 = table.streamOpened('a', 'gw-3');
  assert.throws(() => table.report('a', 'gw-4'), (e: WardenError) => e.code === 'WARDEN_CONFLICT' && e.status === 409);
  assert.equal(table.report('a', 'gw-4', undefined, { optional: true }), null);
  assert.equal(table.size, 2);

  // The overall cap works the same way across tokens.
  table.report('b', 'gw-1');
  now += 1;
  table.report('c', 'gw-9');
  now += 1;
  table.report('d', 'gw-1'); // b:gw-1 is the oldest entry without a stream
  assert.deepEqual(table.list().map((p) => p.name).sort(), ['gw-1', 'gw-2', 'gw-3', 'gw-9'], "b's gw-1 made room for d's");
  assert.equal(table.size, 4);

  // Expiry: entries without a stream go 60 s after they were last seen; open streams never expire.
  now += 61_000;
  assert.deepEqual(table.list().map((p) => p.name).sort(), ['gw-2', 'gw-3']);
  closeGw2();
  closeGw3();
  now += 61_000;
  assert.deepEqual(table.list(), [], 'a closed stream expires like the rest');
  assert.equal(table.size, 0);
});

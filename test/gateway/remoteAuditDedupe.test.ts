import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { configSchema } from '../../src/config/index.js';
import { openAuditLog, type AuditLog, type AuditRecord } from '../../src/audit/index.js';
import { WardenError } from '../../src/errors/index.js';
import { RemoteAuditWriter } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';
import { pepRoutes } from '../../src/server/routes/pep.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';
import type { SnapshotPublisher } from '../../src/server/SnapshotPublisher.js';

const logger = createLogger({ level: 'silent' });
const rec = (i: number): AuditRecord => ({ ts: new Date().toISOString(), kind: 'decision', action: 'invoke', decision: 'allow', requestId: `r-${i}` });

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-dedupe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The control plane's real PEP audit route over a real Merkle audit log (PEP auth stubbed: one token). */
async function controlPlane(t: TestContext): Promise<{ url: string; log: AuditLog }> {
  const log = await openAuditLog({ dataDir: tempDir(t), audit: { ...configSchema.parse({}).audit, flushIntervalMs: 1 } });
  const app = Fastify();
  app.decorateRequest('adminId', undefined);
  app.addHook('onRequest', async (request) => {
    request.adminId = 'pep_token_1';
  });
  app.setErrorHandler((err, _req, reply) => {
    const e = err instanceof WardenError ? err : new WardenError('WARDEN_INTERNAL');
    void reply.code(e.status).send({ error: { code: e.code, message: e.message } });
  });
  const ctx = { audit: log, events: new EventEmitter(), db: {}, serverSecret: new Uint8Array(32), config: configSchema.parse({}) } as unknown as ControlPlaneContext;
  await app.register(async (api) => pepRoutes(api, ctx, {} as SnapshotPublisher), { prefix: '/api/v1' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(async () => {
    await app.close();
    await log.close();
  });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, log };
}

/** A proxy that forwards every request but loses the first reply (the control plane did store that batch). */
async function replyLosingProxy(t: TestContext, target: string): Promise<{ url: string; forwarded: () => number }> {
  let forwarded = 0;
  const proxy = createServer((req, res) => {
    const n = ++forwarded;
    const up = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (upRes) => {
      if (n === 1) {
        upRes.resume();
        upRes.on('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        proxy.closeAllConnections();
        proxy.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, forwarded: () => forwarded };
}

test('a batch resent after its reply was lost is stored once by the control plane (through the spool, same batch id)', async (t) => {
  const cp = await controlPlane(t);
  const proxy = await replyLosingProxy(t, cp.url);
  const spoolDir = join(tempDir(t), 'audit-spool');
  const writer = new RemoteAuditWriter({ url: proxy.url, token: 't', pep: 'gw-1', logger, spoolDir, flushIntervalMs: 10, retryBaseMs: 20, retryMaxMs: 60 });
  await Promise.all([1, 2, 3].map((i) => writer.append(rec(i))));
  assert.equal(await writer.replaySpool(), 3, 'the batch was spooled after the lost reply, then replayed');
  await writer.close();
  assert.equal(proxy.forwarded(), 2, 'sent twice');
  await cp.log.flush();
  const stored = await cp.log.query({ limit: 100 });
  assert.deepEqual(stored.map((e) => e.record.requestId).sort(), ['r-1', 'r-2', 'r-3'], 'each record stored exactly once');
  assert.ok(stored.every((e) => (e.record.details as { pep?: string }).pep === 'gw-1'));
  assert.deepEqual(readdirSync(spoolDir), []);
});

test('the route answers a repeated batch id without storing it again, keeps its validation, and scopes ids per PEP', async (t) => {
  const cp = await controlPlane(t);
  const post = async (body: unknown, id?: string) => {
    const res = await fetch(`${cp.url}/api/v1/pep/audit`, { method: 'POST', headers: { 'content-type': 'application/json', ...(id ? { 'idempotency-key': id } : {}) }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as { accepted?: number; duplicate?: boolean; error?: { code: string } } };
  };
  const id = '0f6a4f4e-7b7e-4c51-9a52-8d1c2b9d0a11';
  assert.deepEqual(await post({ pep: 'gw-1', records: [rec(1), rec(2)] }, id), { status: 200, json: { accepted: 2 } });
  assert.deepEqual(await post({ pep: 'gw-1', records: [rec(1), rec(2)] }, id), { status: 200, json: { accepted: 2, duplicate: true } });
  assert.equal((await post({ pep: 'gw-2', records: [rec(3)] }, id)).json.accepted, 1, 'another PEP with the same id is stored');
  assert.equal((await post({ pep: 'gw-1', records: [rec(4)] })).json.accepted, 1, 'no id: stored (older gateways)');
  assert.equal((await post({ pep: 'gw-1', records: [rec(5)] }, 'short')).status, 400, 'a malformed id is refused');
  assert.equal((await post({ pep: 'gw-1', records: [] }, `${id}x`)).status, 400, 'empty batches are still refused');
  await cp.log.flush();
  assert.equal(cp.log.size, 4);
});

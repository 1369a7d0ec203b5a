import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import Fastify from 'fastify';
import { openAuditLog, openCheckpoint, parseVerifierKey, verifyInclusionProof, type AuditLog } from '../../src/audit/index.js';
import { WardenError } from '../../src/errors/index.js';
import { auditRoutes } from '../../src/server/routes/audit.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';

async function appWith(audit: AuditLog) {
  const app = Fastify();
  app.decorateRequest('adminId', undefined);
  app.addHook('onRequest', async (request) => {
    request.adminId = 'adm_0123456789abcdef';
  });
  app.setErrorHandler((err, _req, reply) => {
    const e = err instanceof WardenError ? err : new WardenError('WARDEN_INTERNAL');
    void reply.code(e.status).send({ error: { code: e.code, message: e.message } });
  });
  const ctx = { audit, events: new EventEmitter() } as unknown as ControlPlaneContext;
  await app.register(async (api) => auditRoutes(api, ctx), { prefix: '/api/v1' });
  return app;
}

test('admin API: records, proof, checkpoint, verify', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  t.after(() => log.close());
  await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(sampleRecord(i))));
  const app = await appWith(log);
  t.after(() => app.close());

  const recs = await app.inject({ url: '/api/v1/audit/records?decision=deny&principal=ApiKey::%22team-a%22&limit=2' });
  assert.equal(recs.statusCode, 200);
  assert.deepEqual((recs.json() as { entries: { index: number }[] }).entries.map((e) => e.index), [25, 10]);
  const bad = await app.inject({ url: '/api/v1/audit/records?limit=0' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'WARDEN_INPUT_INVALID');
  assert.equal((await app.inject({ url: '/api/v1/audit/records?since=soon' })).statusCode, 400);

  const posted = await app.inject({ method: 'POST', url: '/api/v1/audit/checkpoint' });
  assert.equal(posted.statusCode, 201);
  const cp = posted.json() as { checkpoint: { size: number; note: string }; verifierKey: string };
  assert.equal(cp.checkpoint.size, 41, 'covers the 40 records and the publish request itself');
  const signed = openCheckpoint(cp.checkpoint.note, [parseVerifierKey(cp.verifierKey)]);
  const got = (await app.inject({ url: '/api/v1/audit/checkpoint' })).json() as { checkpoint: { note: string } };
  assert.equal(got.checkpoint.note, cp.checkpoint.note);
  const admin = (await app.inject({ url: '/api/v1/audit/records?kind=admin' })).json() as { entries: { record: { action: string; principal: string } }[] };
  assert.equal(admin.entries[0]!.record.action, 'audit.checkpoint.publish');
  assert.equal(admin.entries[0]!.record.principal, 'Admin::"adm_0123456789abcdef"');

  const proof = (await app.inject({ url: '/api/v1/audit/proof/7' })).json() as { index: number; size: number; leafHash: string; proof: string[]; record: { requestId: string } };
  assert.equal(proof.record.requestId, 'req-7');
  assert.ok(verifyInclusionProof(7, proof.size, Buffer.from(proof.leafHash, 'hex'), proof.proof.map((h) => Buffer.from(h, 'hex')), signed.rootHash));
  const missing = await app.inject({ url: '/api/v1/audit/proof/4000' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, 'WARDEN_AUDIT_INDEX_OUT_OF_RANGE');
  assert.equal((await app.inject({ url: '/api/v1/audit/proof/-3' })).statusCode, 400);

  const cons = await app.inject({ url: '/api/v1/audit/consistency?first=0&second=41' });
  assert.equal(cons.statusCode, 200);

  const verify = (await app.inject({ url: '/api/v1/audit/verify' })).json() as { ok: boolean; size: number };
  assert.deepEqual([verify.ok, verify.size], [true, 41]);
});

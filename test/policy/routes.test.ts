import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { loadConfig } from '../../src/config/index.js';
import { openStore } from '../../src/store/index.js';
import { createLogger } from '../../src/observe/index.js';
import { isWardenError } from '../../src/errors/index.js';
import type { AuditLog, AuditRecord } from '../../src/audit/index.js';
import { policyRoutes } from '../../src/server/routes/policy.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';

const schema = readFileSync('examples/policies/schema.cedarschema', 'utf8');
const demo = readFileSync('examples/policies/demo.cedar', 'utf8');

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-policy-routes-'));
  const db = await openStore({});
  const records: AuditRecord[] = [];
  const audit = {
    append: async (r: AuditRecord) => void records.push(r),
    query: async () => records.filter((r) => r.kind === 'decision').map((record, index) => ({ index, leafHash: '', record })),
  } as unknown as AuditLog;
  const events = new EventEmitter();
  let changes = 0;
  events.on('snapshot:changed', () => changes++);
  const ctx = { config: loadConfig({ dataDir: dir, env: {} }), db, audit, logger: createLogger({ level: 'silent' } as never), serverSecret: new Uint8Array(32), events } as ControlPlaneContext;
  const app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    if (isWardenError(err)) return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    return reply.status((err as { statusCode?: number }).statusCode ?? 500).send({ error: { code: 'WARDEN_INTERNAL', message: (err as Error).message } });
  });
  app.addHook('preHandler', async (req) => void ((req as unknown as { adminId: string }).adminId = 'adm_test'));
  await app.register(async (scope) => policyRoutes(scope, ctx), { prefix: '/api/v1' });
  return {
    app,
    records,
    changes: () => changes,
    close: async () => {
      await app.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('admin API: publish validates first, explains, lists versions, rolls back, analyzes', async () => {
  const s = await setup();
  try {
    const none = await s.app.inject({ method: 'GET', url: '/api/v1/policies' });
    assert.equal(none.statusCode, 404);
    assert.equal(none.json().error.code, 'WARDEN_POLICY_NONE');

    // Invalid against the schema: refused, nothing published, no push, no audit record.
    const bad = await s.app.inject({ method: 'PUT', url: '/api/v1/policies', payload: { policies: 'permit(principal, action == Action::"fly", resource);', schema } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'WARDEN_POLICY_VALIDATION_FAILED');
    assert.equal(s.changes(), 0);
    assert.equal(s.records.length, 0);

    const v1 = await s.app.inject({ method: 'PUT', url: '/api/v1/policies', payload: { policies: demo, schema, comment: 'demo' } });
    assert.equal(v1.statusCode, 200, v1.body);
    assert.equal(v1.json().version, 1);
    assert.deepEqual(v1.json().policyIds, ['demo-invoke-iris', 'demo-invoke-echo']);
    assert.equal(s.changes(), 1);
    // The attempt is on record before the change, the outcome (with the new version) after it.
    assert.deepEqual(
      s.records.map((r) => [r.kind, r.action, r.principal, r.details?.outcome, r.details?.version]),
      [
        ['admin', 'policy.publish', 'Admin::"adm_test"', 'attempted', undefined],
        ['admin', 'policy.publish', 'Admin::"adm_test"', 'committed', 1],
      ],
    );

    // Schema omitted: the current one still applies.
    const invalid2 = await s.app.inject({ method: 'PUT', url: '/api/v1/policies', payload: { policies: 'permit(principal, action == Action::"fly", resource);' } });
    assert.equal(invalid2.json().error.code, 'WARDEN_POLICY_VALIDATION_FAILED');

    const v2 = await s.app.inject({ method: 'PUT', url: '/api/v1/policies', payload: { policies: '@id("all") permit(principal, action, resource);' } });
    assert.equal(v2.json().version, 2);

    const explained = await s.app.inject({
      method: 'POST',
      url: '/api/v1/policies/explain',
      payload: { principal: 'ApiKey::"demo"', action: 'invoke', resource: 'Model::"llama"', context: {}, policies: demo },
    });
    assert.equal(explained.statusCode, 200, explained.body);
    assert.equal(explained.json().decision, 'deny');
    assert.equal(explained.json().reason, 'no-permit-applies');
    const current = await s.app.inject({ method: 'POST', url: '/api/v1/policies/explain', payload: { principal: 'ApiKey::"demo"', action: 'invoke', resource: 'Model::"llama"' } });
    assert.deepEqual(current.json().determining.map((d: { id: string }) => d.id), ['all']);
    assert.equal(current.json().policyVersion, '2');
    const badReq = await s.app.inject({ method: 'POST', url: '/api/v1/policies/explain', payload: { principal: 'alice', action: 'invoke', resource: 'Model::"x"' } });
    assert.equal(badReq.json().error.code, 'WARDEN_POLICY_REQUEST_INVALID');

    const rolled = await s.app.inject({ method: 'POST', url: '/api/v1/policies/rollback', payload: { version: 1 } });
    assert.equal(rolled.json().version, 3);
    assert.equal(rolled.json().rolledBackFrom, 1);
    assert.equal(s.changes(), 3);
    const cur = await s.app.inject({ method: 'GET', url: '/api/v1/policies' });
    assert.equal(cur.json().policies, demo);
    const versions = await s.app.inject({ method: 'GET', url: '/api/v1/policies/versions' });
    assert.deepEqual(versions.json().versions.map((v: { version: number }) => v.version), [3, 2, 1]);
    const missing = await s.app.inject({ method: 'POST', url: '/api/v1/policies/rollback', payload: { version: 42 } });
    assert.equal(missing.json().error.code, 'WARDEN_POLICY_VERSION_NOT_FOUND');

    s.records.push({ ts: new Date().toISOString(), kind: 'decision', principal: 'ApiKey::"demo"', action: 'invoke', resource: 'Model::"iris"', decision: 'allow', policies: ['demo-invoke-iris'] });
    const analysis = await s.app.inject({ method: 'GET', url: '/api/v1/policies/analyze?days=7' });
    assert.equal(analysis.statusCode, 200, analysis.body);
    assert.deepEqual(analysis.json().usage, { 'demo-invoke-iris': 1, 'demo-invoke-echo': 0 });
    assert.ok(analysis.json().findings.some((f: { rule: string; policyId: string }) => f.rule === 'unused-grant' && f.policyId === 'demo-invoke-echo'));
    assert.match(analysis.json().observedPolicy.text, /resource in Model::"iris"/);
    const badDays = await s.app.inject({ method: 'GET', url: '/api/v1/policies/analyze?days=0' });
    assert.equal(badDays.statusCode, 400);
  } finally {
    await s.close();
  }
});

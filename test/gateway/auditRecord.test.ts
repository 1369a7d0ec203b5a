import { test } from 'node:test';
import assert from 'node:assert/strict';
import { audit, auditRecordFor } from '../../src/gateway/stages/audit.js';
import type { AuditWriter } from '../../src/gateway/AuditWriter.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { canonicalJson, serializeRecord, validateRecord } from '../../src/audit/index.js';
import { Registry } from 'prom-client';
import { createGatewayObserver, type DecisionEvent } from '../../src/observe/index.js';
import type { RequestContext } from '../../src/gateway/RequestContext.js';

function ctx(over: Partial<RequestContext>): RequestContext {
  return {
    requestId: 'req-1',
    startNs: process.hrtime.bigint(),
    method: 'POST',
    path: '/v1/chat/completions',
    sourceIp: '127.0.0.1',
    route: { kind: 'openai.chat', method: 'POST', hasBody: true, model: 'echo', version: null },
    principal: { entity: { type: 'User', id: 'alice' }, id: 'key_abc', method: 'api-key', parents: [] },
    decision: { decision: 'allow', determining: ['p1'], errors: [] },
    upstreamNs: 0n,
    status: 200,
    errorCode: null,
    verdicts: null,
    ...over,
  } as unknown as RequestContext;
}

test('gateway audit records are built in canonical key order, so the log serialises them natively and identically', () => {
  const cases = [
    ctx({}),
    ctx({ status: 401, errorCode: 'WARDEN_AUTHN_KEY_INVALID', principal: null, decision: null }),
    ctx({ verdicts: [{ detector: 'pii', action: 'redact', kinds: ['email'] }] }),
  ];
  for (const c of cases) {
    const record = auditRecordFor(c, 0.25);
    const keys = Object.keys(record);
    assert.deepEqual(keys, [...keys].sort(), 'keys in sorted order');
    if (!record.detectors) assert.equal(JSON.stringify(record), canonicalJson(record), 'native serialisation is the canonical one');
    assert.ok(serializeRecord(record, 64 * 1024).startsWith("{\"action\":"));
  }
  // Nested objects out of order (a detector's verdict) still serialise canonically.
  assert.match(canonicalJson(auditRecordFor(cases[2]!, 0)), /"verdicts":\[\{"action":"redact","detector":"pii","kinds":\["email"\]\}\]/);
  const denied = auditRecordFor(cases[1]!, 0.1);
  assert.equal(denied.decision, 'deny');
  assert.equal(denied.code, 'WARDEN_AUTHN_KEY_INVALID');
  assert.equal(denied.principal, undefined);
  const allowed = auditRecordFor(cases[0]!, 0.1);
  assert.equal(allowed.principal, 'User::"alice"');
  assert.deepEqual(allowed.details, { authn: 'api-key', principalId: 'key_abc' });
  // Enough to replay the decision or find the credential: a JWT's issuer, a client certificate's serial; keys still in order.
  const viaJwt = auditRecordFor(ctx({ principal: { entity: { type: 'User', id: 'alice' }, id: 'alice', method: 'jwt', issuer: 'https://idp.example.test/', parents: [] } }), 0.1);
  const viaMtls = auditRecordFor(ctx({ principal: { entity: { type: 'Service', id: 'spiffe://td/w' }, id: 'spiffe://td/w', method: 'mtls', serial: '0a1b', parents: [] } }), 0.1);
  assert.equal(JSON.stringify(viaJwt.details), '{"authn":"jwt","issuer":"https://idp.example.test/","principalId":"alice"}');
  assert.equal(JSON.stringify(viaMtls.details), '{"authn":"mtls","principalId":"spiffe://td/w","serial":"0a1b"}');
  for (const r of [viaJwt, viaMtls]) assert.equal(JSON.stringify(r), canonicalJson(r), 'native serialisation is the canonical one');
});

test('the audit record, the metric and the alert event classify every ending alike (cancels are neither denies nor errors)', async () => {
  const cases: [string, Partial<RequestContext>, 'allow' | 'deny', 'allow' | 'deny' | 'error' | 'cancelled'][] = [
    ['answered', {}, 'allow', 'allow'],
    ['policy deny', { status: 403, errorCode: 'WARDEN_AUTHZ_DENIED', decision: { decision: 'deny', determining: [], errors: [] } as never }, 'deny', 'deny'],
    ['unknown route of a known caller', { status: 404, errorCode: 'WARDEN_GATEWAY_ROUTE_NOT_FOUND', decision: null, route: null }, 'deny', 'deny'],
    ['model server down', { status: 502, errorCode: 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE' }, 'allow', 'error'],
    ['cancelled before the answer', { status: 499, errorCode: 'WARDEN_GATEWAY_CLIENT_CLOSED' }, 'allow', 'cancelled'],
    ['cancelled mid-upload', { status: 499, errorCode: 'WARDEN_GATEWAY_CLIENT_CLOSED', decision: null }, 'allow', 'cancelled'],
    ['cancelled after the answer began', { status: 200, errorCode: 'WARDEN_GATEWAY_CLIENT_CLOSED' }, 'allow', 'cancelled'],
    ['model server broke off mid-answer', { status: 200, errorCode: 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE' }, 'allow', 'error'],
    ['cut off by a revocation mid-answer', { status: 200, errorCode: 'WARDEN_IDENTITY_REVOKED' }, 'deny', 'deny'],
  ];
  for (const [what, over, recorded, labelled] of cases) {
    const registry = new Registry();
    const events: DecisionEvent[] = [];
    const { observe } = createGatewayObserver({ registry, upstreams: [{ name: 'u', models: ['echo'] }], emitDecision: (e) => events.push(e) });
    const c = ctx(over);
    const record = auditRecordFor(c, 0.1);
    observe(c, 0.1);
    const series = (await registry.getSingleMetric('warden_gateway_requests_total')!.get()).values;
    assert.equal(record.decision, recorded, `${what}: record`);
    assert.deepEqual(series.map((v) => v.labels.decision), [labelled], `${what}: metric`);
    assert.deepEqual(events.map((e) => e.decision), [recorded], `${what}: alert event`);
  }
});

test('the audit stage appends without a promise below the backpressure depth, and awaits the append (and its failure) from there on', async () => {
  const calls: string[] = [];
  let depth = 0;
  let fail: Error | null = null;
  const log: AuditWriter = {
    get queueDepth() {
      return depth;
    },
    append(_r: AuditRecord) {
      calls.push('append');
      depth++;
      return fail ? Promise.reject(fail) : Promise.resolve();
    },
    appendDetached(_r: AuditRecord) {
      calls.push('detached');
      depth++;
    },
    flush: async () => undefined,
    close: async () => undefined,
  };
  for (let i = 0; i < 3; i++) assert.equal(audit(ctx({}), log, 0.1, 4), undefined);
  assert.ok(audit(ctx({}), log, 0.1, 4) instanceof Promise);
  assert.deepEqual(calls, ['detached', 'detached', 'detached', 'append'], 'the record that reaches the depth is awaited');
  fail = Object.assign(new Error('closed'), { code: 'WARDEN_AUDIT_CLOSED' });
  await assert.rejects(Promise.resolve(audit(ctx({}), log, 0.1, 4)), { code: 'WARDEN_AUDIT_CLOSED' });
  // A writer without appendDetached (a remote one) gets append as before; an unawaited failure is dropped.
  const plain: AuditWriter = { queueDepth: 0, append: () => Promise.reject(new Error('x')), flush: async () => undefined, close: async () => undefined };
  assert.equal(audit(ctx({}), plain, 0.1, 4), undefined);
  // A queue bounded below the depth (audit.queueLimit 2, depth 60 000) is waited for at its bound.
  calls.length = 0;
  depth = 0;
  fail = null;
  const bounded: AuditWriter = Object.assign(Object.create(log) as AuditWriter, { appendWaitsAt: 2 });
  assert.equal(audit(ctx({}), bounded, 0.1, 60_000), undefined);
  assert.ok(audit(ctx({}), bounded, 0.1, 60_000) instanceof Promise);
  assert.deepEqual(calls, ['detached', 'append']);
});

test('a record\'s ts is the time it was made (shared within a millisecond), and validation still parses every new ts', async () => {
  for (let i = 0; i < 3; i++) {
    const before = new Date().toISOString();
    const record = auditRecordFor(ctx({}), 0.1);
    const after = new Date().toISOString();
    assert.ok(before <= record.ts && record.ts <= after, `${before} <= ${record.ts} <= ${after}`);
    assert.equal(new Date(record.ts).toISOString(), record.ts);
    validateRecord(record);
    assert.throws(() => validateRecord({ ...record, ts: 'yesterday' }), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
    assert.throws(() => validateRecord({ ...record, ts: record.ts.replace('T', 'X') }), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
    validateRecord(record);
    await new Promise((r) => setTimeout(r, 2));
  }
});

test('principal and resource follow each request (the last quoted forms are reused only for the same ones)', () => {
  const a = ctx({});
  const b = ctx({
    principal: { entity: { type: 'Service', id: 'spiffe://x/"y"' }, id: 'k2', method: 'mtls', parents: [] },
    route: { kind: 'openai.chat', method: 'POST', hasBody: true, model: 'm\u00e9"2', version: null },
  } as never);
  const c = ctx({ principal: { entity: { type: 'Service', id: 'alice' }, id: 'k3', method: 'mtls', parents: [] } } as never);
  for (const [x, principal, resource] of [
    [a, 'User::"alice"', 'Model::"echo"'],
    [b, 'Service::"spiffe://x/\\"y\\""', 'Model::"m\u00e9\\"2"'],
    [b, 'Service::"spiffe://x/\\"y\\""', 'Model::"m\u00e9\\"2"'],
    [c, 'Service::"alice"', 'Model::"echo"'],
    [a, 'User::"alice"', 'Model::"echo"'],
  ] as const) {
    const r = auditRecordFor(x, 0);
    assert.equal(r.principal, principal);
    assert.equal(r.resource, resource);
  }
});

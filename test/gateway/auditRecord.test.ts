import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditRecordFor } from '../../src/gateway/stages/audit.js';
import { canonicalJson, serializeRecord } from '../../src/audit/index.js';
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

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { createGatewayObserver, createTracing, metricsHandler, observeSnapshots, upstreamUp, NOOP_TRACING, type DecisionEvent, type ObservedRequest } from '../../src/observe/index.js';

function req(overrides: Partial<ObservedRequest> = {}): ObservedRequest {
  return {
    route: { kind: 'openai.chat', model: 'echo' },
    status: 200,
    errorCode: null,
    decision: { decision: 'allow' },
    upstreamNs: 2_000_000n,
    principal: { entity: { type: 'ApiKey', id: 'demo' }, id: 'key_1', method: 'api-key' },
    sourceIp: '10.0.0.7',
    ...overrides,
  };
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

async function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

test('the gateway observer labels by route/model/decision/code, maps unknown models to "other" and emits decisions', async () => {
  const registry = new Registry();
  const events: DecisionEvent[] = [];
  const { observe, malformed, metrics } = createGatewayObserver({ registry, upstreams: [{ name: 'demo', models: ['echo', 'iris'] }], emitDecision: (e) => events.push(e) });
  observe(req(), 0.4);
  observe(req({ route: { kind: 'oip.infer', model: 'attacker-chosen-' + 'x'.repeat(50) }, status: 403, errorCode: 'WARDEN_AUTHZ_DENIED', decision: { decision: 'deny' }, upstreamNs: 0n }), 0.2);
  observe(req({ principal: null, route: null, status: 401, errorCode: 'WARDEN_AUTHN_MISSING', decision: null, upstreamNs: 0n }), 0.1);
  observe(req({ status: 502, errorCode: 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', upstreamNs: 0n }), 0.3);
  const text = await registry.metrics();
  assert.match(text, /warden_gateway_requests_total\{route="openai.chat",model="echo",decision="allow",code=""\} 1/);
  assert.match(text, /warden_gateway_requests_total\{route="oip.infer",model="other",decision="deny",code="WARDEN_AUTHZ_DENIED"\} 1/);
  assert.match(text, /warden_gateway_requests_total\{route="unmatched",model="",decision="deny",code="WARDEN_AUTHN_MISSING"\} 1/);
  assert.match(text, /warden_gateway_requests_total\{route="openai.chat",model="echo",decision="error",code="WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE"\} 1/);
  assert.match(text, /warden_gateway_overhead_seconds_bucket\{le="0.0005",route="openai.chat"\} 2/);
  assert.match(text, /warden_gateway_upstream_seconds_count\{model="echo"\} 1/);
  assert.match(text, /warden_upstream_up\{upstream="demo"\} 0/, 'the failed forward marks the upstream down');
  assert.ok(!text.includes('attacker-chosen') && !text.includes('10.0.0.7') && !text.includes('key_1'));
  assert.equal(events.length, 4);
  malformed('WARDEN_GATEWAY_MALFORMED_REQUEST');
  assert.match(await registry.metrics(), /warden_gateway_requests_total\{route="unmatched",model="",decision="deny",code="WARDEN_GATEWAY_MALFORMED_REQUEST"\} 1/);
  assert.equal(events.length, 4, 'no decision event: there is no principal');
  assert.deepEqual(events[0], { principal: 'ApiKey::"demo"', principalId: 'key_1', authn: 'api-key', decision: 'allow', code: null, sourceIp: '10.0.0.7', model: 'echo' });
  assert.equal(events[2]!.principal, null);
  assert.equal(events[2]!.decision, 'deny');

  let listener: ((s: { version: number }) => void) | null = null;
  const stop = observeSnapshots({ current: () => ({ version: 3 }), onUpdate: (l) => ((listener = l), () => undefined) }, metrics, 'gateway');
  listener!({ version: 4 });
  assert.match(await registry.metrics(), /warden_pep_snapshot_version\{pep="gateway"\} 4/);
  stop();
});

test('metricsHandler: bearer token required when configured, GET/HEAD only, text format', async () => {
  const registry = new Registry();
  createGatewayObserver({ registry, upstreams: [] });
  let scrapes = 0;
  const { server, url } = await listen(metricsHandler(registry, { token: 's3cret-token', beforeScrape: async () => void scrapes++ }));
  try {
    const none = await get(url);
    assert.equal(none.status, 401);
    assert.equal((JSON.parse(none.body) as { error: { code: string } }).error.code, 'WARDEN_OBSERVE_METRICS_UNAUTHORIZED');
    assert.equal((await get(url, { authorization: 'Bearer s3cret-tokeN' })).status, 401);
    assert.equal((await get(url, { authorization: 's3cret-token' })).status, 401);
    assert.equal((await get(url, { authorization: 'Bearer s3cret-token' }, 'POST')).status, 405);
    const ok = await get(url, { authorization: 'Bearer s3cret-token' });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /# TYPE warden_gateway_requests_total counter/);
    assert.equal(scrapes, 1);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  const open = await listen(metricsHandler(registry));
  try {
    assert.equal((await get(open.url)).status, 200, 'no token configured = open (bind it to loopback)');
  } finally {
    await new Promise<void>((r) => open.server.close(() => r()));
  }
  // The gateway listener's handler: no token configured = nobody scrapes, with any header.
  const closed = await listen(metricsHandler(registry, { requireToken: true }));
  try {
    for (const headers of [{}, { authorization: 'Bearer ' }, { authorization: 'Bearer x' }] as Record<string, string>[]) {
      const r = await get(closed.url, headers);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'WARDEN_OBSERVE_METRICS_UNAUTHORIZED');
      assert.doesNotMatch(r.body, /warden_gateway/);
    }
  } finally {
    await new Promise<void>((r) => closed.server.close(() => r()));
  }
  const required = await listen(metricsHandler(registry, { token: 't0ken', requireToken: true }));
  try {
    assert.equal((await get(required.url)).status, 401);
    assert.equal((await get(required.url, { authorization: 'Bearer t0ken' })).status, 200);
  } finally {
    await new Promise<void>((r) => required.server.close(() => r()));
  }
});

test('tracing off is the shared no-op (no SDK loaded, nothing injected)', async () => {
  const t = await createTracing({ endpoint: '', serviceName: 'warden', sampleRatio: 1, headers: {}, timeoutMs: 1000 });
  assert.equal(t, NOOP_TRACING);
  const headers: Record<string, string> = {};
  const r = t.startRequest({});
  r.stage('authenticate').end();
  r.inject(headers);
  r.end(200, null, null);
  assert.deepEqual(headers, {});
});

test('tracing exports stage spans over OTLP/HTTP, continues the caller trace and propagates traceparent upstream', async () => {
  const bodies: { url: string; headers: Record<string, unknown>; body: unknown }[] = [];
  const { server, url } = await listen((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  try {
    const t = await createTracing({ endpoint: `${url}/v1/traces`, serviceName: 'warden-test', sampleRatio: 1, headers: { 'x-otlp-token': 'tok' }, timeoutMs: 5000 });
    assert.equal(t.enabled, true);
    const incomingTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = t.startRequest({ traceparent: `00-${incomingTrace}-00f067aa0ba902b7-01` });
    r.stage('authenticate').end();
    r.stage('authorize').end('WARDEN_AUTHZ_DENIED');
    const upstream: Record<string, string> = {};
    r.inject(upstream);
    assert.match(upstream.traceparent!, new RegExp(`^00-${incomingTrace}-[0-9a-f]{16}-01$`));
    r.end(403, 'WARDEN_AUTHZ_DENIED', 'openai.chat');
    await t.shutdown();
    assert.ok(bodies.length >= 1, 'the exporter posted');
    assert.equal(bodies[0]!.url, '/v1/traces');
    assert.equal(bodies[0]!.headers['x-otlp-token'], 'tok');
    const spans = (bodies.flatMap((b) => (b.body as { resourceSpans: { scopeSpans: { spans: { name: string; traceId: string; parentSpanId?: string; spanId: string }[] }[] }[] }).resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans))));
    const names = spans.map((s) => s.name).sort();
    assert.deepEqual(names, ['warden.authenticate', 'warden.authorize', 'warden.request']);
    const root = spans.find((s) => s.name === 'warden.request')!;
    assert.equal(root.traceId, incomingTrace);
    assert.equal(root.parentSpanId, '00f067aa0ba902b7');
    for (const s of spans.filter((x) => x.name !== 'warden.request')) assert.equal(s.parentSpanId, root.spanId);
    assert.equal(upstream.traceparent!.split('-')[2], root.spanId, 'the upstream sees the request span as its parent');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

/** The lines of one metric in a scrape, in order. */
function seriesLines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test('requests are counted as prom-client counts each one: same series, values and order at every read (text, JSON)', async () => {
  const registry = new Registry();
  const { observe } = createGatewayObserver({ registry, upstreams: [{ name: 'demo', models: ['echo', 'iris'] }] });
  // The reference: prom-client's own counter, incremented once per request.
  const reference = new Registry();
  const counted = new Counter({ name: 'warden_gateway_requests_total', help: 'x', labelNames: ['route', 'model', 'decision', 'code'], registers: [reference] });
  const requests: [ObservedRequest, [string, string, string, string]][] = [
    [req(), ['openai.chat', 'echo', 'allow', '']],
    [req({ status: 429, errorCode: 'WARDEN_GATEWAY_RATE_LIMITED', decision: { decision: 'allow' }, upstreamNs: 0n }), ['openai.chat', 'echo', 'deny', 'WARDEN_GATEWAY_RATE_LIMITED']],
    [req({ route: { kind: 'oip.infer', model: 'iris' } }), ['oip.infer', 'iris', 'allow', '']],
    [req({ status: 502, errorCode: 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT', upstreamNs: 0n }), ['openai.chat', 'echo', 'error', 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT']],
    [req({ route: { kind: 'openai.chat', model: 'made-up' }, status: 403, errorCode: 'WARDEN_AUTHZ_DENIED', decision: { decision: 'deny' }, upstreamNs: 0n }), ['openai.chat', 'other', 'deny', 'WARDEN_AUTHZ_DENIED']],
  ];
  const send = (order: number[]) => {
    for (const i of order) {
      observe(requests[i]![0], 0.3);
      counted.labels(...requests[i]![1]).inc();
    }
  };
  const same = async () => assert.deepEqual(seriesLines(await registry.metrics(), 'warden_gateway_requests_total'), seriesLines(await reference.metrics(), 'warden_gateway_requests_total'));
  send([2, 0, 0, 1, 2, 0]);
  await same();
  await same(); // a second read counts nothing twice
  send([4, 0, 3, 3, 1]);
  const json = (await registry.getMetricsAsJSON()).find((m) => m.name === 'warden_gateway_requests_total')!;
  assert.deepEqual(
    json.values.map((v) => [v.labels, v.value]),
    [
      [{ route: 'oip.infer', model: 'iris', decision: 'allow', code: '' }, 2],
      [{ route: 'openai.chat', model: 'echo', decision: 'allow', code: '' }, 4],
      [{ route: 'openai.chat', model: 'echo', decision: 'deny', code: 'WARDEN_GATEWAY_RATE_LIMITED' }, 2],
      [{ route: 'openai.chat', model: 'other', decision: 'deny', code: 'WARDEN_AUTHZ_DENIED' }, 1],
      [{ route: 'openai.chat', model: 'echo', decision: 'error', code: 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' }, 2],
    ],
  );
  await same();
  assert.match(await registry.metrics(), /warden_gateway_rate_limited_total\{route="openai.chat"\} 2/);
  // A second observer on the same registry (same counter) counts into the same series.
  createGatewayObserver({ registry, upstreams: [{ name: 'demo', models: ['echo', 'iris'] }] }).observe(req(), 0.3);
  counted.labels('openai.chat', 'echo', 'allow', '').inc();
  await same();
});

test('warden_upstream_up holds what its last writer said: forwarded requests, health checks, a new observer', async () => {
  const registry = new Registry();
  const { observe, metrics } = createGatewayObserver({ registry, upstreams: [{ name: 'demo', models: ['echo'] }] });
  const up = async () => /warden_upstream_up\{upstream="demo"\} (\d)/.exec(await registry.metrics())?.[1];
  const failed = req({ status: 502, errorCode: 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', upstreamNs: 0n });
  assert.equal(await up(), '1');
  observe(req(), 0.1);
  assert.equal(await up(), '1');
  observe(failed, 0.1);
  assert.equal(await up(), '0');
  upstreamUp(metrics, 'demo').set(true); // a health check
  assert.equal(await up(), '1');
  observe(failed, 0.1);
  assert.equal(await up(), '0', 'a failure after the health check marks it down again');
  observe(req(), 0.1);
  assert.equal(await up(), '1');
  upstreamUp(metrics, 'demo').set(false);
  assert.equal(await up(), '0');
  observe(req({ upstreamNs: 0n }), 0.1);
  assert.equal(await up(), '0', 'a request not forwarded says nothing of the upstream');
  createGatewayObserver({ registry, upstreams: [{ name: 'demo', models: ['echo'] }] });
  assert.equal(await up(), '1', 'a new observer starts its upstreams up');
});

test('decision events name the principal as its entity is now (only a frozen entity is remembered)', () => {
  const events: DecisionEvent[] = [];
  const { observe } = createGatewayObserver({ registry: new Registry(), upstreams: [], emitDecision: (e) => events.push(e) });
  const entity = { type: 'User', id: 'alice' };
  observe(req({ principal: { entity, id: 'u1', method: 'jwt' } }), 0.1);
  entity.id = 'bob "the" admin';
  observe(req({ principal: { entity, id: 'u1', method: 'jwt' } }), 0.1);
  const frozen = Object.freeze({ type: 'ApiKey', id: 'k"1' });
  observe(req({ principal: { entity: frozen, id: 'key_1', method: 'api-key' } }), 0.1);
  observe(req({ principal: { entity: frozen, id: 'key_1', method: 'api-key' } }), 0.1);
  assert.deepEqual(
    events.map((e) => e.principal),
    ['User::"alice"', 'User::"bob \\"the\\" admin"', 'ApiKey::"k\\"1"', 'ApiKey::"k\\"1"'],
  );
});

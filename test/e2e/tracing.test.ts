import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startWardenProcess, wardenClient, removeDir, tempDataDir, type WardenProcess } from '../helpers/warden.js';

// Tracing end to end: a real `warden up` exports OTLP/HTTP spans to a collector started by the
// test, one child span per pipeline stage, and passes W3C trace context to the model server.

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  status?: { code?: number; message?: string };
  attributes?: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

const spans: OtlpSpan[] = [];
const upstreamTraceparents: string[] = [];
let collector: Server;
let upstream: Server;
let warden: WardenProcess;
let dataDir: string;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

before(async () => {
  collector = createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.url === '/v1/traces' && String(req.headers['content-type']).startsWith('application/json')) {
      const json = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of json.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  upstream = createServer(async (req, res) => {
    await readBody(req);
    upstreamTraceparents.push(String(req.headers.traceparent ?? ''));
    const body = JSON.stringify({ id: 'chatcmpl-t', object: 'chat.completion', created: 0, model: 'traced', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  const [collectorPort, upstreamPort] = await Promise.all([listen(collector), listen(upstream)]);
  dataDir = tempDataDir('warden-tracing-');
  warden = await startWardenProcess({
    dataDir,
    args: [],
    timeoutMs: 120_000,
    configYaml: [
      'gateway:',
      '  upstreams:',
      `    - { name: traced, url: "http://127.0.0.1:${upstreamPort}", models: [traced] }`,
      'observe:',
      '  tracing:',
      `    endpoint: http://127.0.0.1:${collectorPort}/v1/traces`,
      '    serviceName: warden-e2e',
      '',
    ].join('\n'),
  });
});

after(async () => {
  await warden?.stop();
  await new Promise((r) => collector?.close(r));
  await new Promise((r) => upstream?.close(r));
  removeDir(dataDir);
});

async function waitForSpans(traceId: string, count: number): Promise<OtlpSpan[]> {
  const end = Date.now() + 15_000;
  for (;;) {
    const mine = spans.filter((s) => s.traceId === traceId);
    if (mine.length >= count || Date.now() > end) return mine;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function createKey(): Promise<string> {
  const c = wardenClient(warden.ready.caBundle);
  try {
    const r = await c.call('POST', `${warden.ready.adminUrl}/api/v1/keys`, { headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'tracing', scopes: ['model:traced'] }) });
    assert.equal(r.status, 201, r.text);
    return (r.json as { key: string }).key;
  } finally {
    await c.close();
  }
}

const STAGES = ['warden.receive', 'warden.authenticate', 'warden.parse', 'warden.authorize', 'warden.rate_limit', 'warden.validate', 'warden.guard_input', 'warden.admit', 'warden.forward', 'warden.audit'];

test('a request continues the caller trace: one span per pipeline stage, exported over OTLP/HTTP, context passed to the model server', async () => {
  const key = await createKey();
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpan = '00f067aa0ba902b7';
  const c = wardenClient(warden.ready.caBundle);
  try {
    const r = await c.call('POST', `${warden.ready.gatewayUrl}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', traceparent: `00-${traceId}-${callerSpan}-01` },
      body: JSON.stringify({ model: 'traced', messages: [{ role: 'user', content: 'hello' }] }),
    });
    assert.equal(r.status, 200, r.text);
  } finally {
    await c.close();
  }
  const mine = await waitForSpans(traceId, STAGES.length + 1);
  const root = mine.find((s) => s.name === 'warden.request');
  assert.ok(root, `request span exported (got ${mine.map((s) => s.name).join(', ')})`);
  assert.equal(root.parentSpanId, callerSpan, 'the request span is a child of the caller span');
  for (const name of STAGES) {
    const stage = mine.find((s) => s.name === name);
    assert.ok(stage, `${name} exported`);
    assert.equal(stage.parentSpanId, root.spanId, `${name} is a child of the request span`);
  }
  const status = root.attributes?.find((a) => a.key === 'http.response.status_code');
  assert.equal(Number(status?.value.intValue), 200);
  // The model server received this trace with the request span as parent (not the caller's span).
  const tp = upstreamTraceparents.at(-1)!;
  assert.match(tp, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  assert.notEqual(tp.split('-')[2], callerSpan);
  // Span attributes hold codes and routes only: never the API key.
  assert.ok(!JSON.stringify(mine).includes(key));
});

test('a denied request is traced with the stage that refused it and its error code', async () => {
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const c = wardenClient(warden.ready.caBundle);
  try {
    const r = await c.call('POST', `${warden.ready.gatewayUrl}/v1/chat/completions`, {
      headers: { authorization: 'Bearer wdn_notarealkey1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'content-type': 'application/json', traceparent: `00-${traceId}-b7ad6b7169203331-01` },
      body: JSON.stringify({ model: 'traced', messages: [{ role: 'user', content: 'hello' }] }),
    });
    assert.equal(r.status, 401);
  } finally {
    await c.close();
  }
  const mine = await waitForSpans(traceId, 3);
  const authn = mine.find((s) => s.name === 'warden.authenticate');
  assert.ok(authn, `authenticate span exported (got ${mine.map((s) => s.name).join(', ')})`);
  assert.equal(authn.status?.code, 2, 'error status');
  assert.equal(authn.status?.message, 'WARDEN_AUTHN_KEY_INVALID');
  assert.ok(!mine.some((s) => s.name === 'warden.forward'), 'nothing was forwarded');
  const root = mine.find((s) => s.name === 'warden.request');
  assert.equal(root?.attributes?.find((a) => a.key === 'warden.error_code')?.value.stringValue, 'WARDEN_AUTHN_KEY_INVALID');
});

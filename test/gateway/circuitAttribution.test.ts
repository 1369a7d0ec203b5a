// Only the upstream's own failures while its answer is passed on (its connection lost, the answer
// broken off) count against its circuit breaker. A throw in the gateway's own code meanwhile (a
// guard's bug) says nothing about the model server: it must not open the circuit (a gateway bug
// would take every healthy upstream out of service), nor be reported as the model server's failure.
import { test } from 'node:test';
import { connect as http2Connect, type IncomingHttpHeaders } from 'node:http2';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import type { GatewayGuards, RunningGateway } from '../../src/gateway/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, withTlsGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { startScriptedModelServer, type ScriptedModelServer } from '../helpers/modelServer.js';
import { until } from '../helpers/until.js';

const HEADERS = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
const CHAT = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
const EMBED = JSON.stringify({ model: 'm', input: 'hello' });

/** Guards that pass everything, but for the parts `overrides` replace. */
function guards(overrides: Partial<GatewayGuards>): GatewayGuards {
  return { inspectRequest: () => undefined, wantsResponse: () => false, transformJson: (_c, j) => j, guardErrorText: (_c, t) => t, streamTransformer: () => null, ...overrides };
}

function guardBug(): never {
  throw new TypeError('guard bug: cannot read properties of undefined');
}

interface Setup {
  gw: RunningGateway;
  records: AuditRecord[];
  logs: () => string;
}

/** A gateway in front of `upstream` whose circuit opens on the first failure held against it. */
async function withGateway(upstream: ScriptedModelServer, g: GatewayGuards, body: (s: Setup) => Promise<void>): Promise<void> {
  const records: AuditRecord[] = [];
  const lines: string[] = [];
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: upstream.url, models: ['m'], retries: 0, timeoutMs: 5000, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } })],
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
    logger: pino({ level: 'error' }, { write: (s: string) => void lines.push(s) }),
    guards: g,
  });
  try {
    await body({ gw, records, logs: () => lines.join('') });
  } finally {
    await gw.close(0);
    await upstream.stop();
  }
}

test('a guard that throws while a stream is passed on: error event WARDEN_INTERNAL, logged, the circuit stays closed', { timeout: 20_000 }, async () => {
  const upstream = await startScriptedModelServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"choices":[{"index":0,"delta":{"content":"hello"}}]}\n\ndata: [DONE]\n\n');
  });
  await withGateway(upstream, guards({ streamTransformer: () => ({ push: guardBug, flush: () => '' }) }), async ({ gw, records, logs }) => {
    for (let i = 0; i < 3; i++) {
      const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: CHAT });
      const text = await r.body.text();
      assert.equal(r.statusCode, 200, text);
      const event = /event: error\ndata: (.*)\n/.exec(text);
      assert.ok(event, text);
      const error = JSON.parse(event[1]!).error as { code: string; message: string };
      assert.deepEqual([error.code, error.message], ['WARDEN_INTERNAL', 'the gateway failed while passing on the answer'], 'not blamed on the model server');
    }
    assert.equal(upstream.received(), 3, 'never refused: the circuit did not open');
    await until('all audited', () => records.length === 3);
    assert.deepEqual(records.map((r) => [r.status, r.code]), Array(3).fill([200, 'WARDEN_INTERNAL']));
    assert.match(logs(), /unexpected gateway error/);
    assert.match(logs(), /guard bug/);
    assert.equal(gw.inFlight(), 0);
  });
});

for (const [name, status, body, overrides] of [
  // An error answer (not one the circuit judges by its status) that the guards read before passing it on.
  ['a guard that throws before the answer is passed on: 500 WARDEN_INTERNAL, logged, the circuit stays closed', 400, '{"error":{"message":"bad input"}}', { guardErrorText: guardBug }],
  ['a guard that throws on a whole JSON answer: 500 WARDEN_INTERNAL, not reported as an unreadable answer', 200, '{"object":"list","data":[]}', { transformJson: guardBug }],
] as const) {
  test(name, { timeout: 20_000 }, async () => {
    const upstream = await startScriptedModelServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
    await withGateway(upstream, guards({ wantsResponse: () => true, ...overrides }), async ({ gw, records, logs }) => {
      for (let i = 0; i < 3; i++) {
        const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: EMBED });
        const json = (await r.body.json()) as { error: { code: string } };
        assert.deepEqual([r.statusCode, json.error.code], [500, 'WARDEN_INTERNAL']);
      }
      assert.equal(upstream.received(), 3, 'never refused: the circuit did not open');
      await until('all audited', () => records.length === 3);
      assert.deepEqual(records.map((r) => [r.status, r.code]), Array(3).fill([500, 'WARDEN_INTERNAL']));
      assert.match(logs(), /guard bug/);
    });
  });
}

for (const [how, readWhole] of [
  ['passed on as it comes', false],
  ['read whole by the guards', true],
] as const) {
  test(`an upstream that breaks off an answer ${how} still opens the circuit`, { timeout: 20_000 }, async () => {
    const upstream = await startScriptedModelServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"object":"list","data":[');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    await withGateway(upstream, guards({ wantsResponse: () => readWhole }), async ({ gw, records }) => {
      const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: EMBED });
      if (readWhole) {
        // Nothing passed on yet: a clean 502.
        const json = (await r.body.json()) as { error: { code: string } };
        assert.deepEqual([r.statusCode, json.error.code], [502, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE']);
      } else {
        assert.equal(r.statusCode, 200);
        await assert.rejects(r.body.text(), 'cut off mid-answer');
      }
      await until('audited', () => records.length === 1);
      assert.deepEqual([records[0]!.status, records[0]!.code], [readWhole ? 502 : 200, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE']);
      const next = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: HEADERS, body: EMBED });
      const json = (await next.body.json()) as { error: { code: string } };
      assert.deepEqual([next.statusCode, json.error.code], [503, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN']);
      assert.equal(upstream.received(), 1);
    });
  });
}

test('an answer the client\'s protocol cannot carry (status 600 to an HTTP/2 client) is the upstream\'s failure: 502 without its headers, and the circuit opens', { timeout: 20_000 }, async () => {
  const upstream = await startScriptedModelServer((_req, res) => res.writeHead(600, { 'content-type': 'application/json', 'x-upstream-secret': 'leak' }).end('{"object":"list","data":[]}'));
  try {
    await withTlsGateway(
      async (gw, ca) => {
        const session = http2Connect(gw.url, { ca });
        session.on('error', () => undefined);
        const ask = () =>
          new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
            const st = session.request({ ':method': 'POST', ':path': '/v1/embeddings', ...HEADERS });
            let status = 0;
            let headers: IncomingHttpHeaders = {};
            let body = '';
            st.on('response', (h) => ((status = Number(h[':status'])), (headers = h)));
            st.on('data', (d: Buffer) => (body += d.toString()));
            st.on('end', () => resolve({ status, headers, body }));
            st.on('error', reject);
            st.end(EMBED);
          });
        try {
          const first = await ask();
          assert.deepEqual([first.status, (JSON.parse(first.body) as { error: { code: string } }).error.code], [502, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE']);
          assert.equal(first.headers['x-upstream-secret'], undefined, "none of the upstream's headers reach the error answer");
          const second = await ask();
          assert.deepEqual([second.status, (JSON.parse(second.body) as { error: { code: string } }).error.code], [503, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN']);
          assert.equal(upstream.received(), 1);
        } finally {
          session.destroy();
        }
      },
      { upstreams: [upstreamConfig.parse({ name: 'm', url: upstream.url, models: ['m'], retries: 0, timeoutMs: 5000, circuitBreaker: { failureThreshold: 1, openMs: 60_000 } })] },
    );
  } finally {
    await upstream.stop();
  }
});

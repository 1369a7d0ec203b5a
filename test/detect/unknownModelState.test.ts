import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { createDetectors, createGatewayGuards, type Detectors } from '../../src/detect/index.js';
import { configSchema, upstreamConfig } from '../../src/config/index.js';
import type { RunningGateway } from '../../src/gateway/index.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';
import { permitAllSnapshots, SECOND_TEST_KEY as OTHER_KEY } from '../helpers/gatewaySnapshot.js';

// Through the gateway: made-up model names (OIP infer, /v1/feedback) keep no detector state when no
// upstream serves them, and bounded state when a catch-all upstream does.

const agent = new Agent({ connections: 16 });
const ROW = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
let upstream: Server;
let upstreamUrl: string;
let upstreamCalls = 0;

before(async () => {
  // Serves "real" (a one-label answer); any other name but junk-<n> is unknown to it (404).
  upstream = createServer((req, res) => {
    upstreamCalls++;
    req.resume();
    req.on('end', () => {
      // "real" and, for the catch-all tests, any "junk-<n>" answer one label (0).
      const served = /^\/v2\/models\/(real|junk-\d+)\/infer$/.exec(req.url ?? '');
      if (served) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model_name: served[1], outputs: [{ name: 'label', shape: [1], datatype: 'INT64', data: [0] }] }));
      else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"unknown model"}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
});

after(async () => {
  await agent.close();
  await new Promise((r) => upstream.close(r));
});

async function gateway(models: string[], o: { maxModels?: number; policies?: string } = {}): Promise<{ gw: RunningGateway; detectors: Detectors; registry: Registry }> {
  const registry = new Registry();
  const config = configSchema.parse({ detect: { maxModels: o.maxModels ?? 1000 } }).detect;
  const detectors = createDetectors(config, { emit: () => undefined, registry, models });
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'triton', url: upstreamUrl, models, retries: 0 })],
    guards: createGatewayGuards(detectors),
    snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY, undefined, o.policies),
  });
  return { gw, detectors, registry };
}

async function post(gw: RunningGateway, path: string, body: string, key = TEST_KEY): Promise<{ status: number; code: string | undefined; json: unknown; requestId: string }> {
  const r = await request(`${gw.url}${path}`, { dispatcher: agent, method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
  const json = (await r.body.json()) as { error?: { code?: string } };
  return { status: r.statusCode, code: json.error?.code, json, requestId: String(r.headers['x-warden-request-id']) };
}

/** `n` requests, 16 at a time; returns every answer. */
async function many<T>(n: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 16) out.push(...(await Promise.all(Array.from({ length: Math.min(16, n - i) }, (_, j) => send(i + j)))));
  return out;
}

/** A feedback body: the label that turned out right for the prediction served under `requestId`. */
const feedback = (model: string, requestId: string, actual = 0): string => JSON.stringify({ model, requestId, actual });

test('OIP infer for names no upstream serves: 404 WARDEN_GATEWAY_ROUTE_NOT_FOUND before the input guards, no detector state', async () => {
  const { gw, detectors } = await gateway(['real']);
  try {
    upstreamCalls = 0;
    const answers = await many(200, (i) => post(gw, `/v2/models/m${i}/infer`, ROW));
    for (const a of answers) assert.deepEqual([a.status, a.code], [404, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND']);
    assert.equal(detectors.trackedModels().extraction, 0);
    assert.equal(upstreamCalls, 0);
    const served = await post(gw, '/v2/models/real/infer', ROW);
    assert.equal(served.status, 200, JSON.stringify(served.json));
    assert.equal(detectors.trackedModels().extraction, 1);
  } finally {
    await gw.close(0);
  }
});

test('a caller not allowed to invoke a name gets 403 whether or not it is served (authorization comes first)', async () => {
  const { gw, detectors } = await gateway(['real'], { policies: 'permit(principal, action, resource in Model::"real");' });
  try {
    const unknown = await post(gw, '/v2/models/made-up/infer', ROW);
    assert.deepEqual([unknown.status, unknown.code], [403, 'WARDEN_AUTHZ_DENIED']);
    const junk = await post(gw, '/v1/feedback', feedback('made-up', 'some-request'));
    assert.deepEqual([junk.status, junk.code], [403, 'WARDEN_AUTHZ_DENIED']);
    assert.deepEqual(detectors.trackedModels(), { extraction: 0, performance: 0 });
  } finally {
    await gw.close(0);
  }
});

test('a catch-all upstream: extraction state for made-up names stays within detect.maxModels', async () => {
  const { gw, detectors } = await gateway(['real', '*'], { maxModels: 20 });
  try {
    const answers = await many(200, (i) => post(gw, `/v2/models/m${i}/infer`, ROW));
    for (const a of answers) assert.equal(a.status, 404, 'the upstream answers for names it does not know');
    assert.equal(detectors.trackedModels().extraction, 20);
  } finally {
    await gw.close(0);
  }
});

test('feedback for names no upstream serves: 404 WARDEN_DETECT_FEEDBACK_MODEL_UNKNOWN; the real model still takes labels and has the only series', async () => {
  const { gw, detectors, registry } = await gateway(['real']);
  try {
    const answers = await many(300, (i) => post(gw, '/v1/feedback', feedback(`junk-${i}-${'x'.repeat(100)}`, `r${i}`)));
    for (const a of answers) assert.deepEqual([a.status, a.code], [404, 'WARDEN_DETECT_FEEDBACK_MODEL_UNKNOWN']);
    assert.equal(detectors.trackedModels().performance, 0);
    const served = await post(gw, '/v2/models/real/infer', ROW);
    assert.equal(served.status, 200, JSON.stringify(served.json));
    // The model answered label 0; the label that turned out right was 1.
    const real = await post(gw, '/v1/feedback', feedback('real', served.requestId, 1));
    assert.equal(real.status, 200, JSON.stringify(real.json));
    assert.deepEqual(real.json, { model: 'real', samples: 1, accuracy: 0, degraded: false });
    const series = (await registry.metrics()).split('\n').filter((l) => l.startsWith('warden_detector_accuracy{'));
    assert.deepEqual(series, ['warden_detector_accuracy{model="real"} 0']);
  } finally {
    await gw.close(0);
  }
});

test('feedback through a catch-all upstream: made-up names share the "other" series; the real model keeps working', async () => {
  const { gw, detectors, registry } = await gateway(['real', '*'], { maxModels: 50 });
  try {
    const answers = await many(300, async (i) => {
      const served = await post(gw, `/v2/models/junk-${i}/infer`, ROW);
      assert.equal(served.status, 200, JSON.stringify(served.json));
      return post(gw, '/v1/feedback', feedback(`junk-${i}`, served.requestId));
    });
    for (const a of answers) assert.equal(a.status, 200);
    assert.equal(detectors.trackedModels().performance, 50);
    const served = await post(gw, '/v2/models/real/infer', ROW);
    const real = await post(gw, '/v1/feedback', feedback('real', served.requestId));
    assert.deepEqual(real.json, { model: 'real', samples: 1, accuracy: 1, degraded: false });
    const series = (await registry.metrics()).split('\n').filter((l) => l.startsWith('warden_detector_accuracy{')).sort();
    assert.deepEqual(series, ['warden_detector_accuracy{model="other"} 1', 'warden_detector_accuracy{model="real"} 1']);
  } finally {
    await gw.close(0);
  }
});

test('feedback names a prediction the gateway served to the same caller and model, once: made-up, foreign and repeated ids are refused and move no accuracy', async () => {
  const { gw, detectors } = await gateway(['real', 'wine']);
  try {
    // A caller that never invoked the model cannot post labels: no accuracy drop can be faked.
    const fake = await many(55, (i) => post(gw, '/v1/feedback', JSON.stringify({ model: 'real', requestId: `made-up-${i}`, predicted: 0, actual: 2 })));
    for (const a of fake) assert.deepEqual([a.status, a.code], [404, 'WARDEN_DETECT_FEEDBACK_UNKNOWN_REQUEST']);
    assert.equal(detectors.trackedModels().performance, 0);
    // A request the upstream refused served no prediction.
    const failed = await post(gw, '/v2/models/wine/infer', ROW);
    assert.equal(failed.status, 404);
    assert.equal((await post(gw, '/v1/feedback', feedback('wine', failed.requestId))).code, 'WARDEN_DETECT_FEEDBACK_UNKNOWN_REQUEST');
    const served = await post(gw, '/v2/models/real/infer', ROW);
    assert.equal(served.status, 200, JSON.stringify(served.json));
    // Another model's name, another principal, a made-up predicted label.
    assert.equal((await post(gw, '/v1/feedback', feedback('wine', served.requestId))).code, 'WARDEN_DETECT_FEEDBACK_UNKNOWN_REQUEST');
    const other = await post(gw, '/v1/feedback', feedback('real', served.requestId), OTHER_KEY);
    assert.deepEqual([other.status, other.code], [404, 'WARDEN_DETECT_FEEDBACK_UNKNOWN_REQUEST']);
    const lied = await post(gw, '/v1/feedback', JSON.stringify({ model: 'real', requestId: served.requestId, predicted: 2, actual: 2 }));
    assert.deepEqual([lied.status, lied.code], [400, 'WARDEN_DETECT_FEEDBACK_INVALID']);
    const taken = await post(gw, '/v1/feedback', feedback('real', served.requestId));
    assert.equal(taken.status, 200, JSON.stringify(taken.json));
    assert.deepEqual(taken.json, { model: 'real', samples: 1, accuracy: 1, degraded: false });
    const again = await post(gw, '/v1/feedback', feedback('real', served.requestId, 2));
    assert.deepEqual([again.status, again.code], [409, 'WARDEN_DETECT_FEEDBACK_DUPLICATE']);
    const noId = await post(gw, '/v1/feedback', JSON.stringify({ model: 'real', predicted: 0, actual: 2 }));
    assert.deepEqual([noId.status, noId.code], [400, 'WARDEN_DETECT_FEEDBACK_INVALID']);
  } finally {
    await gw.close(0);
  }
});

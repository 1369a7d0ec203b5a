import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { createDetectors, createGatewayGuards } from '../../src/detect/index.js';
import { configSchema, upstreamConfig } from '../../src/config/index.js';
import { RequestValidator, stringifyKeepingNumbers } from '../../src/gateway/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { startJsonModelServer } from '../helpers/modelServer.js';

test('stringifyKeepingNumbers: numbers the rewrite left alone keep their exact text; changed ones are written anew', () => {
  const original = '{"seed":12345678901234567890,"ids":[9007199254740993,18446744073709551615,1],"big":1e400,"p":0.123456789012345678,"text":"mail bob@example.org"}';
  const rewritten = { ...(JSON.parse(original) as Record<string, unknown>), text: 'mail [REDACTED:email]' };
  const out = stringifyKeepingNumbers(rewritten, original);
  assert.equal(out, '{"seed":12345678901234567890,"ids":[9007199254740993,18446744073709551615,1],"big":1e400,"p":0.123456789012345678,"text":"mail [REDACTED:email]"}');
  assert.equal(stringifyKeepingNumbers({ ...rewritten, p: 0.12 }, original).includes('"p":0.12,'), true, 'a number the rewrite changed (hardening) is the new one');
  // Nothing inexact in the original: plain JSON.stringify, whatever the rewrite did.
  assert.equal(stringifyKeepingNumbers({ a: 1, b: [2, undefined], c: undefined }, '{"a":1}'), JSON.stringify({ a: 1, b: [2, undefined], c: undefined }));
  assert.equal(stringifyKeepingNumbers({ a: 1, b: [2, undefined], c: undefined, d: 9007199254740993 }, '{"d":9007199254740993}'), '{"a":1,"b":[2,null],"d":9007199254740993}', 'same shape rules as JSON.stringify');
});

test('through the gateway: a redacted request and a guarded answer keep their 64-bit integers exact', async () => {
  const upstream = await startJsonModelServer('{"id":"c1","object":"chat.completion","created":1,"model":"m","x_trace":12345678901234567891,"choices":[{"index":0,"message":{"role":"assistant","content":"write to bob@example.org"},"finish_reason":"stop"}]}');
  const detectors = createDetectors(configSchema.parse({}).detect, { emit: () => undefined, registry: new Registry() });
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: upstream.url, models: ['m'] })],
    guards: createGatewayGuards(detectors, { stringify: stringifyKeepingNumbers }),
  });
  try {
    const r = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: '{"model":"m","seed":12345678901234567890,"messages":[{"role":"user","content":"mail alice@example.org"}]}',
    });
    const text = await r.body.text();
    assert.equal(r.statusCode, 200, text);
    assert.match(upstream.bodies[0] ?? '', /"seed":12345678901234567890,/, 'the request seed reached the model server as sent');
    assert.doesNotMatch(upstream.bodies[0] ?? '', /alice@example\.org/);
    assert.match(text, /"x_trace":12345678901234567891,/, 'the answer field reached the client as sent');
    assert.doesNotMatch(text, /bob@example\.org/);
  } finally {
    await gw.close(0);
    await detectors.close();
    await upstream.stop();
  }
});

test('through the gateway: an OIP INT64 element at 2^63 - 1 passes exactly, one at 2^63 is refused before the upstream', async () => {
  const upstream = await startJsonModelServer('{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"INT64","data":[1]}]}');
  const received = upstream.bodies;
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: upstream.url, models: ['m'] })],
    validator: new RequestValidator(),
  });
  const infer = async (literal: string) => {
    const r = await request(`${gw.url}/v2/models/m/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: `{"inputs":[{"name":"x","shape":[2],"datatype":"INT64","data":[1,${literal}]}]}`,
    });
    return { status: r.statusCode, text: await r.body.text() };
  };
  try {
    const max = await infer('9223372036854775807');
    assert.equal(max.status, 200, max.text);
    assert.match(received[0] ?? '', /\[1,9223372036854775807\]/);
    const over = await infer('9223372036854775808');
    assert.equal(over.status, 400, over.text);
    assert.match(over.text, /inputs\[0\]\.data\[1\]: out of range for INT64/);
    assert.equal(received.length, 1, 'the refused request was not forwarded');
  } finally {
    await gw.close(0);
    await upstream.stop();
  }
});

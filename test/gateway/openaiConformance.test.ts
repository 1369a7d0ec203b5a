import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import OpenAI from 'openai';
import { request, type Dispatcher } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { RequestValidator, type RunningGateway } from '../../src/gateway/index.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';

// What the official OpenAI SDK relies on beyond the happy path: models.retrieve, the error
// object's `type` and `param`, and HTTP's own rules (Allow on 405, HEAD wherever GET is).

const POLICIES = 'permit(principal, action, resource);\nforbid(principal, action, resource == Model::"secret");';
const DIGEST = `sha256:${'cd'.repeat(32)}`;

let upstream: Server;
let gw: RunningGateway;
let catchAll: RunningGateway;
let client: OpenAI;
const records: AuditRecord[] = [];

function sdk(url: string, apiKey = TEST_KEY): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
}

/** The OpenAI SDK's error for a call that must fail. */
async function sdkError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    return err;
  }
  assert.fail('the call succeeded');
}

before(async () => {
  // A model server that answers OIP metadata (for HEAD on a forwarded GET route).
  upstream = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'm', versions: ['1'], platform: 'stub', inputs: [], outputs: [] }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'u', url, models: ['m', 'secret', 'org/m'], retries: 0 })],
    snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY, undefined, POLICIES),
    validator: new RequestValidator(),
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
  });
  // An upstream that takes every model: the registry says which models exist.
  catchAll = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'any', url, models: ['*'], retries: 0 })],
    snapshots: permitAllSnapshots(
      TEST_SECRET,
      TEST_KEY,
      {
        enforceAll: false,
        enforced: [],
        models: {
          registered: { serving: { version: '1', digest: DIGEST }, revokedVersions: [], revokedDigests: [] },
          secret: { serving: { version: '1', digest: DIGEST }, revokedVersions: [], revokedDigests: [] },
          'not-serving': { serving: null, revokedVersions: [], revokedDigests: [] },
        },
      },
      'permit(principal, action, resource);\nforbid(principal, action, resource in Model::"secret");',
    ),
  });
  client = sdk(gw.url);
});

after(async () => {
  await gw.close(0);
  await catchAll.close(0);
  await new Promise<void>((r) => upstream.close(() => r()));
});

test('models.retrieve: a model the caller may invoke is answered as an OpenAI model object, an id with a slash included', async () => {
  assert.deepEqual(await client.models.retrieve('m'), { id: 'm', object: 'model', created: 0, owned_by: 'warden' });
  // The SDK escapes the slash (org%2Fm); the gateway decodes the segment once.
  assert.equal((await client.models.retrieve('org/m')).id, 'org/m');
});

test('models.retrieve: a denied model and an unknown one get the same 404, so existence does not leak', async () => {
  const denied = await sdkError(client.models.retrieve('secret'));
  const unknown = await sdkError(client.models.retrieve('nope'));
  for (const e of [denied, unknown]) {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND');
    assert.equal(e.type, 'not_found_error');
  }
  assert.equal(denied.message, unknown.message);
  assert.doesNotMatch(denied.message, /secret/);
  // The audit log, unlike the caller, learns which model was asked about and which policy denied it.
  // The record is appended once the answer is sent: wait for it (with a deadline).
  const id = denied.headers?.get('x-warden-request-id');
  const deadline = Date.now() + 5000;
  let record = records.find((r) => r.requestId === id);
  while (!record && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    record = records.find((r) => r.requestId === id);
  }
  assert.equal(record?.action, 'readModelMetadata');
  assert.equal(record?.model, 'secret');
  assert.equal(record?.decision, 'deny');
  assert.equal(record?.code, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND');
  assert.equal(record?.policies?.length, 1);
  // Too long to be a model id, a malformed escape, an escaped character decoded only once: 404 too.
  for (const path of [`/v1/models/${'a'.repeat(129)}`, '/v1/models/%E0%A4%A', '/v1/models/m%252F']) {
    const r = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    assert.equal(r.statusCode, 404, path);
    assert.equal(((await r.body.json()) as { error: { message: string } }).error.message, denied.message.replace(/^404 /, ''), path);
  }
  // Authentication still comes first: an anonymous caller learns nothing either.
  const anon = await request(`${gw.url}/v1/models/m`);
  assert.equal(anon.statusCode, 401);
  await anon.body.dump();
});

test('an upstream with models ["*"]: registered models the caller may invoke are listed and retrievable', async () => {
  const c = sdk(catchAll.url);
  const ids: string[] = [];
  for await (const m of c.models.list()) ids.push(m.id);
  // Not "secret" (forbidden) nor "not-serving" (admission would refuse it); unregistered names are unknown.
  assert.deepEqual(ids, ['registered']);
  assert.equal((await c.models.retrieve('registered')).id, 'registered');
  for (const id of ['secret', 'not-serving', 'unregistered']) assert.equal((await sdkError(c.models.retrieve(id))).status, 404, id);
});

test('error bodies carry OpenAI\'s type and param next to Warden\'s code, message and requestId', async () => {
  const bad = await sdkError(client.chat.completions.create({ model: 'm', messages: [{ role: 'robot' as 'user', content: 'x' }] }));
  assert.ok(bad instanceof OpenAI.BadRequestError);
  assert.equal(bad.code, 'WARDEN_GATEWAY_INVALID_REQUEST');
  assert.equal(bad.type, 'invalid_request_error');
  assert.equal(bad.param, 'messages[0].role');
  assert.match(bad.message, /messages\[0\]\.role: expected one of/);
  const noModel = await sdkError(client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] } as never));
  assert.equal(noModel.param, 'model');
  assert.equal(noModel.code, 'WARDEN_GATEWAY_INVALID_REQUEST', 'the model is read before authorization, refused like the validator refuses a field');
  assert.equal(noModel.type, 'invalid_request_error');
  assert.match(noModel.message, /model: is required/);
  // Every shape of a bad model: the validator's code, a message naming the field, the value never echoed.
  for (const [model, reason] of [[null, 'is required'], ['', 'must not be empty'], [7, 'expected a string, got number'], ['m'.repeat(129), 'string longer than 128 characters'], [['m'], 'expected a string, got array']] as const) {
    const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) });
    const body = (await r.body.json()) as { error: { code: string; message: string; param: string | null } };
    assert.equal(r.statusCode, 400, JSON.stringify(model));
    assert.deepEqual([body.error.code, body.error.message, body.error.param], ['WARDEN_GATEWAY_INVALID_REQUEST', `model: ${reason}`, 'model'], JSON.stringify(model));
  }

  const denied = await sdkError(client.chat.completions.create({ model: 'secret', messages: [{ role: 'user', content: 'x' }] }));
  assert.equal(denied.status, 403);
  assert.equal(denied.type, 'permission_error');
  assert.equal(denied.param, null);
  const unauthenticated = await sdkError(sdk(gw.url, `wdn_zzzzzzzzzzzz_${'B'.repeat(43)}`).models.list());
  assert.equal(unauthenticated.status, 401);
  assert.equal(unauthenticated.type, 'authentication_error');

  const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: '{"model":"m","messages":"hi"}' });
  const body = (await r.body.json()) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body.error), ['code', 'message', 'type', 'param', 'requestId']);
  assert.equal(body.error.requestId, r.headers['x-warden-request-id']);
});

test('405 names the allowed methods in Allow; a CORS preflight gets a 405 that says browsers are not served, without CORS headers', async () => {
  const cases: [Dispatcher.HttpMethod, string, string][] = [
    ['POST', '/v1/models', 'GET, HEAD'],
    ['DELETE', '/v1/models/m', 'GET, HEAD'],
    ['GET', '/v1/chat/completions', 'POST'],
    ['PUT', '/v2/models/m/infer', 'POST'],
  ];
  for (const [method, path, allow] of cases) {
    const r = await request(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${TEST_KEY}` } });
    assert.equal(r.statusCode, 405, `${method} ${path}`);
    assert.equal(r.headers.allow, allow, `${method} ${path}`);
    const body = (await r.body.json()) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'WARDEN_GATEWAY_METHOD_NOT_ALLOWED');
    assert.equal(body.error.type, 'invalid_request_error');
  }
  const preflight = await request(`${gw.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  assert.equal(preflight.statusCode, 405);
  assert.equal(preflight.headers.allow, 'POST');
  assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  assert.match(((await preflight.body.json()) as { error: { message: string } }).error.message, /cross-origin \(CORS\) requests from browsers are not supported/);
});

test('HEAD is answered like GET without a body, on local and forwarded GET routes, and authenticated the same', async () => {
  for (const path of ['/v1/models', '/v1/models/m', '/v2/models/m']) {
    const r = await request(`${gw.url}${path}`, { method: 'HEAD', headers: { authorization: `Bearer ${TEST_KEY}` } });
    assert.equal(r.statusCode, 200, path);
    assert.match(String(r.headers['content-type']), /application\/json/, path);
    assert.equal(await r.body.text(), '', path);
  }
  const anon = await request(`${gw.url}/v1/models`, { method: 'HEAD' });
  assert.equal(anon.statusCode, 401);
  await anon.body.dump();
});

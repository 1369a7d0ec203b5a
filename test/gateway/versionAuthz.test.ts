import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { upstreamConfig } from '../../src/config/index.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';

const digest = `sha256:${'ab'.repeat(32)}`;
const auth = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
const inferBody = JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] });
const chatBody = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });

/** A model server for `m` that reports the digest of version 2 (the registry's serving version). */
async function modelServer(t: TestContext): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = req.url!.startsWith('/v1/')
        ? { id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'v2' }, finish_reason: 'stop' }] }
        : { model_name: 'm', model_version: '2', outputs: [{ name: 'y', shape: [1], datatype: 'FP32', data: [1] }] };
      res.writeHead(200, { 'content-type': 'application/json', 'x-warden-model-digest': digest });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function gatewayWith(t: TestContext, policies: string) {
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'u', url: await modelServer(t), models: ['m'] })],
    snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY, { enforceAll: false, enforced: ['m'], models: { m: { serving: { version: '2', digest }, revokedVersions: [], revokedDigests: [] } } }, policies),
  });
  t.after(() => gw.close(0));
  const call = async (method: 'GET' | 'POST', path: string, body?: string) => {
    const r = await request(gw.url + path, { method, headers: auth, body });
    return { status: r.statusCode, json: (await r.body.json()) as { error?: { code: string }; data?: { id: string }[] } };
  };
  return call;
}

test('a forbid on the serving version holds on every route that reaches it, not only the versioned one', async (t) => {
  const call = await gatewayWith(t, '@id("all") permit(principal, action, resource);\n@id("no-v2") forbid(principal, action == Action::"invoke", resource == ModelVersion::"m@2");');
  for (const [method, path, body] of [
    ['POST', '/v2/models/m/versions/2/infer', inferBody],
    ['POST', '/v2/models/m/infer', inferBody],
    ['GET', '/v2/models/m', undefined],
    ['POST', '/v1/chat/completions', chatBody],
  ] as const) {
    const r = await call(method, path, body);
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.json.error?.code, 'WARDEN_AUTHZ_DENIED');
  }
  assert.deepEqual((await call('GET', '/v1/models')).json.data, [], 'the listing leaves out a model whose serving version the caller may not invoke');
});

test('a grant on the model (`in Model::"m"`) reaches its serving version on unversioned routes', async (t) => {
  const call = await gatewayWith(t, 'permit(principal, action == Action::"invoke", resource in Model::"m");');
  assert.equal((await call('POST', '/v2/models/m/infer', inferBody)).status, 200);
  assert.equal((await call('POST', '/v1/chat/completions', chatBody)).status, 200);
  assert.deepEqual((await call('GET', '/v1/models')).json.data?.map((m) => m.id), ['m']);
});

// Which of a model server's answer headers reach the client: end-to-end ones (content, CORS,
// caching, via) pass; nothing that would speak for Warden or for the gateway's origin does.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { upstreamConfig } from '../../src/config/index.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';

const pinned = 'cd'.repeat(32);

const HOSTILE: OutgoingHttpHeaders = {
  'x-warden-principal': 'Admin::"root"',
  'x-warden-request-id': 'forged-id',
  'x-warden-overhead-ms': '0',
  'x-warden-decision': 'allow',
  'strict-transport-security': 'max-age=0',
  'alt-svc': 'h2="evil.example:443"',
  'www-authenticate': 'Basic realm="model-server"',
  'proxy-authenticate': 'Basic realm="proxy"',
  server: 'TorchServe/0.9',
  'x-powered-by': 'Express',
};
const KEPT: Record<string, string> = {
  'access-control-allow-origin': 'https://app.example',
  'access-control-expose-headers': 'x-model-latency',
  'cache-control': 'no-store',
  'content-language': 'en',
  via: '1.1 model-lb',
  'x-model-latency': '3',
};

/** A model server answering every model with the headers above and `digest` as its reported model digest. */
async function modelServer(t: TestContext, digest: string): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-warden-model-digest': digest, ...HOSTILE, ...KEPT });
      res.end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0] }], model: 'm' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function embed(t: TestContext, model: string) {
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'u', url: await modelServer(t, `sha256:${pinned.toUpperCase()}`), models: ['registered', 'unregistered'] })],
    snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY, { enforceAll: false, enforced: [], models: { registered: { serving: { version: '1', digest: pinned }, revokedVersions: [], revokedDigests: [] } } }),
  });
  t.after(() => gw.close(0));
  const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, input: 'x' }) });
  await r.body.dump();
  assert.equal(r.statusCode, 200);
  return r.headers;
}

test('upstream x-warden-* headers, HSTS, alt-svc, www-/proxy-authenticate, server and x-powered-by never reach the client', async (t) => {
  const headers = await embed(t, 'unregistered');
  for (const name of Object.keys(HOSTILE).filter((n) => !n.startsWith('x-warden-'))) assert.equal(headers[name], undefined, name);
  assert.equal(headers['x-warden-principal'], undefined);
  assert.equal(headers['x-warden-decision'], undefined);
  assert.notEqual(headers['x-warden-request-id'], 'forged-id', 'the gateway sets its own request id');
  assert.match(String(headers['x-warden-request-id']), /^[0-9a-f-]{36}$/);
  assert.notEqual(headers['x-warden-overhead-ms'], '0');
  assert.equal(headers['x-warden-model-digest'], undefined, 'a digest admission did not compare (unregistered model) is not shown');
});

test('content, CORS, caching and via headers pass; a digest admission checked is shown in Warden\'s form', async (t) => {
  const headers = await embed(t, 'registered');
  for (const [name, value] of Object.entries(KEPT)) assert.equal(headers[name], value, name);
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(headers['x-warden-model-digest'], `sha256:${pinned}`, 'the pinned digest the report matched');
});

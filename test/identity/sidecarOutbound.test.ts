import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request } from 'undici';
import { tempDir } from './helpers/controlPlane.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload } from './helpers/workloads.js';
import { startSidecar, AllowListAuthorizer } from '../../src/gateway/sidecar/index.js';
import { RevocationList, loadOrCreateAuthority } from '../../src/identity/index.js';

// The workload's outbound calls: every request, on a new or a kept-alive connection, goes only to
// the route's pinned SPIFFE ID, never to a revoked peer, and not at all on a stale revocation list.

const MODEL = 'spiffe://warden.local/env/prod/svc/model';
const API = 'spiffe://warden.local/env/prod/svc/api';
const OTHER = 'spiffe://warden.local/env/prod/svc/other';

/** MODEL's sidecar (an echo workload behind it), and API's sidecar with two outbound routes to it: `model` pins MODEL, `other` pins OTHER. */
async function apiCallingModel(t: TestContext) {
  const dir = tempDir();
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(async () => {
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const echo = await startEchoWorkload();
  t.after(() => new Promise((r) => echo.server.close(r)));
  const model = await startSidecar({
    trustDomain: 'warden.local',
    identity: new StaticSvidSource(await issueMaterial(ca, MODEL)),
    revocations: new RevocationList(),
    authorizer: new AllowListAuthorizer([{ from: API, to: MODEL, paths: ['*'], methods: ['*'] }]),
    upstreamUrl: echo.url,
  });
  t.after(() => model.close());
  const revocations = new RevocationList();
  const state = { fresh: true };
  const api = await startSidecar({
    trustDomain: 'warden.local',
    identity: new StaticSvidSource(await issueMaterial(ca, API)),
    revocations,
    authorizer: new AllowListAuthorizer([]),
    upstreamUrl: 'http://127.0.0.1:1',
    outboundPort: 0,
    outbound: [
      { name: 'model', url: model.url, spiffeId: MODEL },
      { name: 'other', url: model.url, spiffeId: OTHER },
    ],
    revocationsFresh: () => state.fresh,
  });
  t.after(() => api.close());
  const get = async (path: string) => {
    const r = await request(api.outboundUrl + path);
    const text = await r.body.text();
    return { status: r.statusCode, code: r.statusCode === 200 ? null : ((JSON.parse(text) as { error: { code: string } }).error.code), text };
  };
  return { echo, model, api, revocations, state, get };
}

test('sidecar outbound: a route pinning another SPIFFE ID does not reuse a connection verified for a different route', async (t) => {
  const { echo, get } = await apiCallingModel(t);
  assert.equal((await get('/model/v1/chat')).status, 200, 'the model route reaches MODEL');
  const reached = echo.seen.length;
  // Same host:port as the model route, whose keep-alive connection is open: it must not carry this.
  const other = await get('/other/v1/chat');
  assert.equal(other.status, 502, other.text);
  assert.equal(other.code, 'WARDEN_IDENTITY_PEER_MISMATCH');
  assert.equal(echo.seen.length, reached, 'nothing reached the workload behind MODEL');
});

test('sidecar outbound: revoking the remote closes the kept-alive connection and refuses new ones', async (t) => {
  const { echo, model, revocations, get } = await apiCallingModel(t);
  assert.equal((await get('/model/v1/chat')).status, 200);
  const reached = echo.seen.length;
  await revocations.add({ kind: 'spiffe_id', value: MODEL, reason: 'test' });
  const revoked = await get('/model/v1/chat');
  assert.equal(revoked.status, 502, revoked.text);
  assert.equal(revoked.code, 'WARDEN_IDENTITY_REVOKED');
  assert.equal((await get('/model/v1/chat')).code, 'WARDEN_IDENTITY_REVOKED', 'nor on a new connection');
  assert.equal(echo.seen.length, reached, 'nothing reached the revoked service');
  assert.equal(model.stats.forwarded, 1);
});

test('sidecar outbound: a stale revocation list fails closed (503), as inbound', async (t) => {
  const { echo, state, get } = await apiCallingModel(t);
  assert.equal((await get('/model/v1/chat')).status, 200);
  state.fresh = false;
  const stale = await get('/model/v1/chat');
  assert.equal(stale.status, 503, stale.text);
  assert.equal(stale.code, 'WARDEN_UNAVAILABLE');
  assert.equal(echo.seen.length, 1, 'the stale request did not leave');
});

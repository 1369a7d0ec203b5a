import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startGateway, type GatewaySvidSource } from '../../src/gateway/index.js';
import { startSidecar, AllowListAuthorizer } from '../../src/gateway/sidecar/index.js';
import { RevocationList, loadOrCreateAuthority } from '../../src/identity/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload } from '../identity/helpers/workloads.js';

// Issue 5: "mTLS with the gateway's SVID when the upstream is a Warden sidecar". A real gateway
// in front of a real Warden sidecar (mTLS in, segmentation by SPIFFE ID) in front of a workload.

const MODEL = 'spiffe://warden.local/svc/model';
const GATEWAY = 'spiffe://warden.local/warden/gateway/local';

/** A CA, an echo workload behind a Warden sidecar holding MODEL's SVID, and an SVID for the gateway. */
async function modelBehindSidecar(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sidecar-upstream-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  t.after(() => ca.close());
  const echo = await startEchoWorkload();
  t.after(() => new Promise((r) => echo.server.close(r)));
  const sidecarSvid = await issueMaterial(ca, MODEL);
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity: new StaticSvidSource(sidecarSvid),
    revocations: new RevocationList(),
    authorizer: new AllowListAuthorizer([{ from: 'spiffe://warden.local/warden/gateway/*', to: MODEL, paths: ['/v1/*'], methods: ['POST'] }]),
    upstreamUrl: echo.url,
  });
  t.after(() => sidecar.close());
  return { echo, sidecar, sidecarSvid, gatewaySvid: await issueMaterial(ca, GATEWAY) };
}

async function embed(url: string) {
  const r = await request(`${url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'hi' }) });
  return { status: r.statusCode, json: (await r.body.json()) as { peer?: string; path?: string; error?: { code: string } } };
}

test('the gateway reaches a Warden sidecar over mTLS with its own SVID, checks the sidecar SPIFFE ID, and is refused without one', async (t) => {
  const { sidecar, gatewaySvid } = await modelBehindSidecar(t);
  const source: GatewaySvidSource = { current: () => gatewaySvid };
  const start = (mtls: { spiffeId: string | null }, svid: GatewaySvidSource | null) =>
    startTestGateway({
      upstreams: [upstreamConfig.parse({ name: 'sidecar', url: sidecar.url, models: ['m'], timeoutMs: 5000, retries: 0, mtls })],
      upstreamSvid: svid,
      trustDomain: 'warden.local',
    });

  const good = await start({ spiffeId: MODEL }, source);
  t.after(() => good.close(0));
  const ok = await embed(good.url);
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.peer, GATEWAY, 'the sidecar verified the gateway SVID and told the workload who called');
  assert.equal(ok.json.path, '/v1/embeddings');

  // The sidecar presents MODEL; a gateway expecting another workload refuses to talk to it.
  const pinned = await start({ spiffeId: 'spiffe://warden.local/svc/other' }, source);
  t.after(() => pinned.close(0));
  const wrong = await embed(pinned.url);
  assert.equal(wrong.status, 502);
  assert.equal(wrong.json.error?.code, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE');
  assert.equal(wrong.json.peer, undefined, 'nothing from the wrong peer reaches the client');

  // Misconfiguration is caught at start-up, not per request.
  await assert.rejects(start({ spiffeId: MODEL }, null), /WARDEN_CONFIG_INVALID|mtls needs the gateway's SVID/);
  const plain = upstreamConfig.safeParse({ name: 'x', url: 'http://127.0.0.1:1', mtls: { spiffeId: null } });
  assert.equal(plain.success, false, 'mTLS needs an https:// upstream');
});

test('a revoked sidecar SVID (its SPIFFE ID, its serial or its intermediate) closes the open upstream connection and gets no new one', async (t) => {
  const { echo, sidecar, sidecarSvid, gatewaySvid } = await modelBehindSidecar(t);
  const intermediate = new X509Certificate(sidecarSvid.chainPem.slice(sidecarSvid.chainPem.indexOf('-----BEGIN', 1)));
  assert.ok(intermediate.ca, 'the SVID chain carries its intermediate');

  const kinds = [
    { kind: 'spiffe_id', value: MODEL },
    { kind: 'serial', value: sidecarSvid.serial },
    { kind: 'serial', value: intermediate.serialNumber },
  ] as const;
  for (const revoke of kinds) {
    const revocations = new RevocationList();
    const gateway = await startTestGateway({
      upstreams: [upstreamConfig.parse({ name: 'sidecar', url: sidecar.url, models: ['m'], timeoutMs: 5000, retries: 0, mtls: { spiffeId: MODEL } })],
      upstreamSvid: { current: () => gatewaySvid },
      upstreamRevocations: revocations,
      trustDomain: 'warden.local',
    });
    t.after(() => gateway.close(0));
    assert.equal((await embed(gateway.url)).status, 200, `before revoking ${revoke.kind} ${revoke.value}`);
    const reached = echo.seen.length;
    await revocations.add({ kind: revoke.kind, value: revoke.value, reason: 'test' });
    // The keep-alive connection verified before would carry this request, were it not closed.
    const after = await embed(gateway.url);
    assert.equal(after.status, 502, `after revoking ${revoke.kind}: ${JSON.stringify(after.json)}`);
    assert.equal(after.json.error?.code, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE');
    assert.equal((await embed(gateway.url)).status, 502, 'nor is a new connection made to it');
    assert.equal(echo.seen.length, reached, 'nothing reached the revoked model server');
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'undici';
import { startControlPlane, ADMIN_TOKEN } from './helpers/controlPlane.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload, mtlsClient, call } from './helpers/workloads.js';
import { WorkloadAgent, IdentityClient, RevocationFeed, RevocationList, getIdentityService } from '../../src/identity/index.js';
import { startSidecar, AllowListAuthorizer } from '../../src/gateway/sidecar/index.js';

const WORKERS = 500;
const CONCURRENCY = 32;

async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

test(`fleet: ${WORKERS} training workers join at once, all hold and rotate SVIDs, one revoked worker is rejected by a PEP`, async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const identity = await getIdentityService(cp.ctx);
  const bundlePem = cp.ca.bundlePem();
  const tokens = await pool(WORKERS, 16, (i) => identity.tokens.create({ spiffeId: `spiffe://warden.local/env/prod/job/llm-ft/worker/${i}`, ttlSeconds: 600 }));

  // Every worker attests over the real HTTPS API with its own key and one-time token.
  const started = performance.now();
  const agents = await pool(WORKERS, CONCURRENCY, async (i) => {
    const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem, joinToken: tokens[i]!.token, ttlSeconds: 300, followRevocations: false, jitter: 0.2 });
    await agent.start();
    return agent;
  });
  const joinedMs = performance.now() - started;
  t.after(() => Promise.all(agents.map((a) => a.stop())));
  assert.equal(agents.filter((a) => a.current()).length, WORKERS, 'all workers hold a valid SVID');
  assert.equal(new Set(agents.map((a) => a.current()!.serial)).size, WORKERS, 'distinct certificates');
  t.diagnostic(`${WORKERS} workers joined in ${joinedMs.toFixed(0)} ms`);

  // All rotate: each renews over mTLS with its current SVID and a fresh key (the scheduled
  // half-life renewal is covered in agent.test.ts; here the point is the fleet-wide load).
  const before = agents.map((a) => a.current()!.serial);
  const rotateStarted = performance.now();
  await pool(WORKERS, CONCURRENCY, async (i) => agents[i]!.rotate());
  t.diagnostic(`${WORKERS} workers rotated in ${(performance.now() - rotateStarted).toFixed(0)} ms`);
  assert.equal(agents.filter((a, i) => a.current() && a.current()!.serial !== before[i]).length, WORKERS, 'every worker holds a new, valid SVID');
  assert.equal(new Set(agents.map((a) => a.current()!.serial)).size, WORKERS);

  // A PEP (sidecar of the parameter server) following the revocation stream.
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());
  const ps = new StaticSvidSource(await issueMaterial(cp.ca, 'spiffe://warden.local/env/prod/job/llm-ft/ps'));
  const feedClient = new IdentityClient(cp.url, { bundlePem, chainPem: ps.svid.chainPem, keyPem: ps.svid.keyPem });
  const revocations = new RevocationList();
  const feed = new RevocationFeed(feedClient, revocations);
  const connected = new Promise((r) => feed.once('connected', r));
  feed.start();
  t.after(() => {
    feed.stop();
    return feedClient.close();
  });
  await connected;
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity: ps,
    revocations,
    authorizer: new AllowListAuthorizer([{ from: 'spiffe://warden.local/env/prod/job/llm-ft/worker/*', to: '*', paths: ['/grad'], methods: ['POST'] }]),
    upstreamUrl: echo.url,
  });
  t.after(() => sidecar.close());

  const victim = agents[137]!.current()!;
  const honest = agents[138]!.current()!;
  const victimClient = mtlsClient(victim);
  const honestClient = mtlsClient(honest);
  t.after(() => Promise.all([victimClient.close(), honestClient.close()]));
  assert.equal((await call(victimClient, sidecar.url + '/grad', 'POST', 'g')).status, 200);

  const admin = new Agent({ connect: { ca: bundlePem } });
  t.after(() => admin.close());
  const revokedAt = performance.now();
  const res = await request(cp.url + '/api/v1/identity/revoke', {
    method: 'POST',
    dispatcher: admin,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ spiffeId: victim.spiffeId, reason: 'worker compromised' }),
  });
  assert.equal(res.statusCode, 200);
  await res.body.text();
  let rejectedMs = -1;
  while (performance.now() - revokedAt < 2000) {
    try {
      const r = await call(victimClient, sidecar.url + '/grad', 'POST', 'g');
      if (r.status === 403) {
        rejectedMs = performance.now() - revokedAt;
        break;
      }
    } catch {
      rejectedMs = performance.now() - revokedAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(rejectedMs >= 0 && rejectedMs < 2000, `revoked worker rejected within 2 s (${rejectedMs.toFixed(0)} ms)`);
  t.diagnostic(`revocation enforced at the PEP after ${rejectedMs.toFixed(0)} ms`);
  assert.equal((await call(honestClient, sidecar.url + '/grad', 'POST', 'g')).status, 200, 'the other workers keep working');
  // The control plane refuses to renew the revoked worker.
  await assert.rejects(agents[137]!.rotate(), (e: { code: string }) => ['WARDEN_IDENTITY_REVOKED', 'WARDEN_IDENTITY_AGENT_NOT_READY'].includes(e.code));
});

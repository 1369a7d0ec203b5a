import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { loadIrisDataset, startDemoModelServer } from '../../src/demo/index.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { hasCommand, requireOrSkip } from '../helpers/ci.js';
import { wardenBin, tempDataDir, removeDir, irisInferBody } from '../helpers/warden.js';
import { createWorkloadKey } from '../../src/identity/index.js';

function startProcess(args: string[], env: Record<string, string>): { proc: ChildProcess; firstLine: Promise<Record<string, unknown>>; stderr: () => string } {
  const proc = spawn(process.execPath, [wardenBin, ...args], { env: { ...process.env, WARDEN_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', (l) => resolve(JSON.parse(l) as Record<string, unknown>));
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`)));
  });
  return { proc, firstLine, stderr: () => stderr };
}

async function stop(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(t);
  return code;
}

type Api = (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => Promise<{ status: number; json: Record<string, unknown> }>;

interface Fleet {
  ready: { adminUrl: string; caBundle: string; adminToken: string; gatewayUrl: null };
  server: ChildProcess;
  ca: string;
  api: Api;
  demoUrl: string;
  gatewayDir: string;
  /** The control plane's data dir and database (a second replica shares both). */
  serverDir: string;
  databaseUrl: string;
  secret: string;
  pepToken: string;
  pepTokenId: string;
  /** Processes and agents registered here are stopped and closed after the test. */
  procs: ChildProcess[];
  agents: Agent[];
}

/** `warden server` on a fresh PostgreSQL database, a demo model server and an admin client; torn down after `fn`. */
const METRICS_TOKEN = 'scale-out-metrics-token-0123456789abcdef';

async function withFleet(fn: (f: Fleet) => Promise<void>, serverEnv: Record<string, string> = {}): Promise<void> {
  const database = await createTestDatabase();
  const serverDir = tempDataDir('warden-cp-');
  const gatewayDir = tempDataDir('warden-gw-');
  const demo = await startDemoModelServer();
  const secret = randomBytes(32).toString('base64');
  const procs: ChildProcess[] = [];
  const agents: Agent[] = [];
  try {
    const server = startProcess(['--data-dir', serverDir, 'server', '--ready-json', '--port-admin', '0'], { WARDEN_DATABASE_URL: database.url, WARDEN_SERVER_SECRET: secret, ...serverEnv });
    procs.push(server.proc);
    const ready = (await server.firstLine) as Fleet['ready'];
    const ca = readFileSync(ready.caBundle, 'utf8');
    const admin = new Agent({ connect: { ca } });
    agents.push(admin);
    const api: Api = async (method, path, body) => {
      const r = await request(ready.adminUrl + path, { method, dispatcher: admin, headers: { authorization: `Bearer ${ready.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
    };
    // Gateways get a least-privilege PEP token, never the admin token.
    const pep = await api('POST', '/api/v1/pep/tokens', { name: 'fleet' });
    assert.equal(pep.status, 201, JSON.stringify(pep.json));
    await fn({ ready, server: server.proc, ca, api, demoUrl: demo.url, gatewayDir, serverDir, databaseUrl: database.url, secret, pepToken: pep.json.token as string, pepTokenId: pep.json.id as string, procs, agents });
  } finally {
    for (const a of agents) await a.close().catch(() => undefined);
    for (const p of procs) await stop(p);
    await demo.close();
    await database.drop();
    removeDir(serverDir);
    removeDir(gatewayDir);
  }
}

/**
 * A request under way when a revoking snapshot lands is cut off (its connection closed, by design),
 * so a poll around a revocation may get no answer: it counts as not yet refused, the next poll is.
 */
function orCutOff(answer: Promise<{ status: number; json: { error?: { code: string } } }>): Promise<{ status: number; json: { error?: { code: string } } }> {
  return answer.catch((err: { code?: string }) => {
    if (err.code !== 'UND_ERR_SOCKET') throw err;
    return { status: 0, json: { error: { code: 'cut off' } } };
  });
}

test('three stateless gateways share one control plane on PostgreSQL: same keys, same policy, revocation everywhere, audit centralised', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  await withFleet(async ({ ready, ca, api, demoUrl, gatewayDir, secret, pepToken, pepTokenId, procs, agents }) => {
    assert.equal(ready.gatewayUrl, null);
    const config = join(gatewayDir, 'gateway.yaml');
    writeFileSync(config, `gateway:\n  upstreams:\n    - name: demo\n      url: ${demoUrl}\n      models: [iris, echo]\n`);
    const gateways = await Promise.all(
      [1, 2, 3].map(async (i) => {
        const g = startProcess(['--data-dir', gatewayDir, '--config', config, 'gateway', '--control-plane', ready.adminUrl, '--ca', ready.caBundle, '--name', `gw-${i}`, '--port', '0', '--ready-json'], {
          WARDEN_SERVER_SECRET: secret,
          WARDEN_PEP_TOKEN: pepToken,
          WARDEN_OBSERVE_METRICS_TOKEN: METRICS_TOKEN,
        });
        procs.push(g.proc);
        return ((await g.firstLine) as { gatewayUrl: string }).gatewayUrl;
      }),
    );
    // Listener certificates come from the control plane's CA with DNS name localhost.
    const client = new Agent({ connect: { ca, servername: 'localhost' } });
    const infer = async (url: string, key: string) => {
      const r = await request(url + '/v2/models/iris/infer', { method: 'POST', dispatcher: client, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: irisInferBody([[5.1, 3.5, 1.4, 0.2]]) });
      return { status: r.statusCode, json: (await r.body.json()) as { error?: { code: string } } };
    };

    const until = async (fn: () => Promise<{ status: number }>, ok: (r: { status: number }) => boolean) => {
      for (let i = 0; i < 100; i++) {
        if (ok(await fn())) return;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.fail('condition not reached in 5 s');
    };
    const created = await api('POST', '/api/v1/keys', { name: 'fleet', scopes: ['model:iris'] });
    assert.equal(created.status, 201);
    const key = created.json.key as string;
    const deadline = Date.now() + 5000;
    for (const url of gateways) {
      let r = await infer(url, key);
      while (r.status !== 200 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
        r = await infer(url, key);
      }
      assert.equal(r.status, 200, `${url}: ${JSON.stringify(r.json)}`);
    }

    // Detector alarms raised on a remote gateway reach the control plane's alert engine: feedback
    // labels that degrade accuracy on gw-2 open an accuracy-drop incident naming that gateway. Each
    // label names a prediction gw-2 served to this key (real iris rows, as a benign user sends them).
    const iris = loadIrisDataset().features;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const labelPrediction = async (row: number[], wrong: boolean) => {
      const p = await request(gateways[1] + '/v2/models/iris/infer', { method: 'POST', dispatcher: client, headers, body: irisInferBody([row]) });
      const answer = await p.body.text();
      assert.equal(p.statusCode, 200, answer);
      const label = (JSON.parse(answer) as { outputs: { name: string; data: number[] }[] }).outputs.find((o) => o.name === 'label')!.data[0]!;
      const body = JSON.stringify({ model: 'iris', requestId: p.headers['x-warden-request-id'], actual: wrong ? (label + 1) % 3 : label });
      const r = await request(gateways[1] + '/v1/feedback', { method: 'POST', dispatcher: client, headers, body });
      assert.equal(r.statusCode, 200, await r.body.text());
    };
    for (let i = 0; i < 50; i++) await labelPrediction(iris[(i * 3 + 1) % iris.length]!, i >= 20);
    type Incidents = { incidents: { id: string; rule: string | null }[] };
    const incidentFor = async (rule: string) => {
      for (let i = 0; i < 100; i++) {
        const hit = ((await api('GET', '/api/v1/incidents?limit=50')).json as Incidents).incidents.find((x) => x.rule === rule);
        if (hit) return hit;
        await new Promise((res) => setTimeout(res, 100));
      }
      return null;
    };
    const accuracy = await incidentFor('accuracy-drop');
    assert.ok(accuracy, 'an accuracy alarm on a remote gateway opens an incident');
    const timeline = (await api('GET', `/api/v1/incidents/${accuracy.id}`)).json as { incident: { timeline: { kind: string; details: Record<string, unknown> }[] } };
    assert.ok(JSON.stringify(timeline.incident.timeline).includes('gw-2'), 'the incident names the gateway that raised the alarm');

    const revokedAt = Date.now();
    assert.equal((await api('POST', `/api/v1/keys/fleet/revoke`)).status, 200);
    for (const url of gateways) {
      let r = await orCutOff(infer(url, key));
      while (r.json.error?.code !== 'WARDEN_AUTHN_KEY_REVOKED' && Date.now() - revokedAt < 2000) {
        await new Promise((res) => setTimeout(res, 25));
        r = await orCutOff(infer(url, key));
      }
      assert.equal(r.json.error?.code, 'WARDEN_AUTHN_KEY_REVOKED', `${url} still accepts a revoked key 2 s after revocation`);
    }

    // Decisions shipped by remote gateways feed alert rules too: 50 policy denials of one
    // principal across the fleet within a minute open a deny-burst incident.
    const outsider = (await api('POST', '/api/v1/keys', { name: 'outsider', scopes: ['model:echo'] })).json.key as string;
    for (const url of gateways) await until(() => infer(url, outsider), (r) => r.status === 403);
    for (let i = 0; i < 60; i++) assert.equal((await infer(gateways[i % 3]!, outsider)).json.error?.code, 'WARDEN_AUTHZ_DENIED');
    assert.ok(await incidentFor('deny-burst'), 'a deny burst across remote gateways opens an incident');

    // The PEP token reaches the PEP channel only: no admin routes, no workload SVIDs.
    const asPep = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
      const r = await request(ready.adminUrl + path, { method, dispatcher: client, headers: { authorization: `Bearer ${pepToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.statusCode, json: (await r.body.json()) as { error?: { code: string } } };
    };
    const keysAsPep = await asPep('GET', '/api/v1/keys');
    assert.equal(keysAsPep.status, 403);
    assert.equal(keysAsPep.json.error?.code, 'WARDEN_AUTHN_PEP_TOKEN_SCOPE');
    const workloadSvid = await asPep('POST', '/api/v1/identity/issue', { csr: createWorkloadKey().csrPem, spiffeId: 'spiffe://warden.local/ns/ml/sa/trainer' });
    assert.equal(workloadSvid.json.error?.code, 'WARDEN_AUTHN_PEP_TOKEN_SCOPE');
    assert.equal((await asPep('POST', '/api/v1/pep/tokens', { name: 'escalate' })).status, 403);
    const foreignName = await asPep('POST', '/api/v1/identity/issue', { csr: createWorkloadKey().csrPem, spiffeId: 'spiffe://warden.local/warden/gateway/gw-x', dnsNames: ['cp.internal'] });
    assert.equal(foreignName.json.error?.code, 'WARDEN_AUTHN_PEP_TOKEN_SCOPE', 'no certificate for a name outside identity.gatewayDnsNames');

    type Peps = { peps: { name: string; snapshotVersion: number }[]; currentVersion: number };
    let peps = (await api('GET', '/api/v1/pep/peps')).json as Peps;
    for (let i = 0; i < 40 && peps.peps.some((p) => p.snapshotVersion !== peps.currentVersion); i++) {
      await new Promise((res) => setTimeout(res, 50));
      peps = (await api('GET', '/api/v1/pep/peps')).json as Peps;
    }
    assert.deepEqual(peps.peps.map((p) => p.name).sort(), ['gw-1', 'gw-2', 'gw-3']);
    for (const p of peps.peps) assert.equal(p.snapshotVersion, peps.currentVersion, `${p.name} reports the current snapshot version`);

    // Each remote gateway serves its own /metrics: its requests, the snapshot it decides from, its audit writer's state.
    // Clients reach this listener: without the metrics token a scrape learns nothing (not even the model names).
    const anonymous = await request(gateways[0] + '/metrics', { dispatcher: client });
    const refused = await anonymous.body.text();
    assert.equal(anonymous.statusCode, 401, refused);
    assert.equal((JSON.parse(refused) as { error: { code: string } }).error.code, 'WARDEN_OBSERVE_METRICS_UNAUTHORIZED');
    assert.doesNotMatch(refused, /iris/);
    const scrape = await request(gateways[0] + '/metrics', { dispatcher: client, headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const scraped = await scrape.body.text();
    assert.equal(scrape.statusCode, 200);
    assert.match(scraped, /warden_gateway_requests_total\{route="oip.infer",model="iris",decision="allow",code=""\} [1-9]/);
    assert.match(scraped, new RegExp(`warden_pep_snapshot_version\\{pep="gw-1"\\} ${peps.currentVersion}\\n`));
    assert.match(scraped, /warden_audit_failing_closed\{pep="gw-1"\} 0\n/);
    assert.match(scraped, /warden_audit_spool_bytes\{pep="gw-1"\} 0\n/);

    // A gateway that cannot listen (its port is taken) exits 2 with the reason instead of staying
    // alive on its snapshot stream and audit writer with no listener.
    const taken = gateways[0]!.split(':').at(-1)!;
    const blocked = startProcess(['--data-dir', gatewayDir, '--config', config, 'gateway', '--control-plane', ready.adminUrl, '--ca', ready.caBundle, '--name', 'gw-blocked', '--port', taken, '--ready-json'], {
      WARDEN_SERVER_SECRET: secret,
      WARDEN_PEP_TOKEN: pepToken,
    });
    blocked.firstLine.catch(() => undefined);
    const blockedExit = await new Promise<number | null | 'running'>((r) => {
      const timer = setTimeout(() => r('running'), 60_000);
      blocked.proc.once('exit', (code) => {
        clearTimeout(timer);
        r(code);
      });
    });
    if (blockedExit === 'running') blocked.proc.kill('SIGKILL');
    assert.equal(blockedExit, 2, `a gateway on a taken port: ${blocked.stderr()}`);
    assert.match(blocked.stderr(), /WARDEN_CONFIG_LISTEN_FAILED/);

    // Gateways ship their decisions to the control plane's log; SIGTERM flushes them.
    for (const p of procs.slice(1)) assert.equal(await stop(p), 0);
    const records = (await api('GET', '/api/v1/audit/records?principal=' + encodeURIComponent('ApiKey::"fleet"') + '&limit=1000')).json as { records?: { record?: { details?: { pep?: string }; decision?: string } }[]; entries?: unknown[] };
    const list = (records.records ?? records.entries ?? []) as { record?: { details?: { pep?: string }; decision?: string }; details?: { pep?: string } }[];
    const peps_ = new Set(list.map((e) => (e.record ?? e).details?.pep));
    assert.ok(['gw-1', 'gw-2', 'gw-3'].every((g) => peps_.has(g)), `audit records from every gateway: ${JSON.stringify([...peps_])}`);
    assert.equal((await api('POST', `/api/v1/pep/tokens/${pepTokenId}/revoke`)).status, 200);
    const afterRevoke = await asPep('POST', '/api/v1/pep/status', { name: 'gw-1', snapshotVersion: 1, policyVersion: 1 });
    assert.equal(afterRevoke.status, 401, 'a revoked PEP token is refused');
    agents.push(client);
  });
});

test('a remote gateway accepts workload credentials (mTLS SVID, JWT-SVID), enforces their revocation within 2 s, and fails closed when its revocation stream is gone', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  await withFleet(async ({ ready, server, ca, api, demoUrl, gatewayDir, secret, pepToken, procs, agents }) => {
    const current = (await api('GET', '/api/v1/policies')).json as { policies?: string };
    const put = await api('PUT', '/api/v1/policies', { policies: `${current.policies ?? ''}\n@id("workers-iris")\npermit(principal is Service, action == Action::"invoke", resource == Model::"iris");\n` });
    assert.ok(put.status < 300, JSON.stringify(put.json));

    const config = join(gatewayDir, 'gateway.yaml');
    writeFileSync(config, `gateway:\n  upstreams:\n    - name: demo\n      url: ${demoUrl}\n      models: [iris]\n  authn:\n    mtls: true\n    jwtSvidAudience: fleet-gw\n    revocationMaxStaleSeconds: 10\n`);
    const g = startProcess(['--data-dir', gatewayDir, '--config', config, 'gateway', '--control-plane', ready.adminUrl, '--ca', ready.caBundle, '--name', 'gw-workload', '--port', '0', '--ready-json'], { WARDEN_SERVER_SECRET: secret, WARDEN_PEP_TOKEN: pepToken });
    procs.push(g.proc);
    const gatewayUrl = ((await g.firstLine) as { gatewayUrl: string }).gatewayUrl;

    const svidFor = async (spiffeId: string) => {
      const key = createWorkloadKey();
      const issued = await api('POST', '/api/v1/identity/svids', { csr: key.csrPem, spiffeId });
      assert.equal(issued.status, 200, JSON.stringify(issued.json));
      const agent = new Agent({ connect: { ca, servername: 'localhost', cert: issued.json.chainPem as string, key: key.keyPem } });
      agents.push(agent);
      return agent;
    };
    const plain = new Agent({ connect: { ca, servername: 'localhost' } });
    agents.push(plain);
    const infer = async (dispatcher: Agent, headers: Record<string, string> = {}) => {
      const r = await request(gatewayUrl + '/v2/models/iris/infer', { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', ...headers }, body: irisInferBody([[5.1, 3.5, 1.4, 0.2]]) });
      return { status: r.statusCode, json: (await r.body.json()) as { error?: { code: string } } };
    };
    const until = async (what: string, fn: () => Promise<{ status: number; json: { error?: { code: string } } }>, ok: (r: { status: number; json: { error?: { code: string } } }) => boolean, ms: number) => {
      const end = Date.now() + ms;
      let r = await fn();
      while (!ok(r) && Date.now() < end) {
        await new Promise((res) => setTimeout(res, 25));
        r = await fn();
      }
      assert.ok(ok(r), `${what}: ${r.status} ${JSON.stringify(r.json)}`);
      return r;
    };

    const td = 'spiffe://warden.local';
    const trainer = await svidFor(`${td}/ns/ml/sa/trainer`);
    const bystander = await svidFor(`${td}/ns/ml/sa/evaluator`);
    await until('mTLS SVID accepted by the remote gateway', () => infer(trainer), (r) => r.status === 200, 5000);
    const jwt = await api('POST', '/api/v1/identity/jwt-svids', { spiffeId: `${td}/ns/ml/sa/batch`, audience: 'fleet-gw' });
    assert.equal(jwt.status, 200, JSON.stringify(jwt.json));
    const bearer = { authorization: `Bearer ${jwt.json.token as string}` };
    await until('JWT-SVID accepted by the remote gateway', () => infer(plain, bearer), (r) => r.status === 200, 5000);

    // Revocation reaches the remote gateway over its own SVID-authenticated stream.
    let revokedAt = Date.now();
    assert.equal((await api('POST', '/api/v1/identity/revoke', { spiffeId: `${td}/ns/ml/sa/trainer`, reason: 'test' })).status, 200);
    await until('revoked SVID refused within 2 s', () => infer(trainer), (r) => r.json.error?.code === 'WARDEN_IDENTITY_REVOKED', 2000 - (Date.now() - revokedAt));
    revokedAt = Date.now();
    assert.equal((await api('POST', '/api/v1/identity/revoke', { spiffeId: `${td}/ns/ml/sa/batch`, reason: 'test' })).status, 200);
    await until('revoked JWT-SVID refused within 2 s', () => infer(plain, bearer), (r) => r.json.error?.code === 'WARDEN_IDENTITY_REVOKED', 2000 - (Date.now() - revokedAt));
    assert.equal((await infer(bystander)).status, 200, 'other workloads are unaffected');

    // The control plane dies: after revocationMaxStaleSeconds (10 s of silence) the gateway can
    // no longer know what was revoked, so workload credentials are refused (503) instead of trusted.
    server.kill('SIGKILL');
    const stale = await until('workload credentials refused once revocations are stale', () => infer(bystander), (r) => r.json.error?.code === 'WARDEN_GATEWAY_REVOCATIONS_STALE', 20_000);
    assert.equal(stale.status, 503);
  });
});

test('the URL a remote gateway prints verifies with the CA bundle alone (no servername override), with undici and curl', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  await withFleet(async ({ ready, ca, demoUrl, gatewayDir, secret, pepToken, procs, agents }) => {
    const config = join(gatewayDir, 'gateway.yaml');
    writeFileSync(config, `gateway:\n  upstreams:\n    - name: demo\n      url: ${demoUrl}\n      models: [iris]\n`);
    const g = startProcess(['--data-dir', gatewayDir, '--config', config, 'gateway', '--control-plane', ready.adminUrl, '--ca', ready.caBundle, '--name', 'gw-url', '--port', '0', '--ready-json'], { WARDEN_SERVER_SECRET: secret, WARDEN_PEP_TOKEN: pepToken });
    procs.push(g.proc);
    const gatewayUrl = ((await g.firstLine) as { gatewayUrl: string }).gatewayUrl;
    assert.match(gatewayUrl, /^https:\/\/localhost:\d+$/, 'loopback listener, certificate for localhost');
    const caOnly = new Agent({ connect: { ca } });
    agents.push(caOnly);
    const r = await request(`${gatewayUrl}/healthz`, { dispatcher: caOnly });
    assert.equal(r.statusCode, 200, await r.body.text());
    // No observe.metricsToken: this replica's /metrics (its only one) refuses every scrape, and says why at start.
    const metrics = await request(`${gatewayUrl}/metrics`, { dispatcher: caOnly });
    const refused = await metrics.body.text();
    assert.equal(metrics.statusCode, 401, refused);
    assert.doesNotMatch(refused, /iris|warden_gateway/);
    assert.match(g.stderr(), /observe\.metricsToken is not set/);
    if (hasCommand('curl')) {
      const curl = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ready.caBundle, `${gatewayUrl}/healthz`], { encoding: 'utf8' });
      assert.equal(curl.stdout, '200', curl.stderr);
    }
  });
});

/** Every replica says it shares the database's audit log with others. */
const MULTIPLE_WRITERS = { WARDEN_AUDIT_MULTIPLE_WRITERS: 'true' };

test('two control-plane replicas on one database (ca/ and keys/ copied from the first): admin changes through either reach a gateway of the other within 2 s, and they write one audit log that verifies', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  await withFleet(async ({ ready, ca, api, demoUrl, gatewayDir, serverDir, databaseUrl, secret, pepToken, procs, agents }) => {
    const env = { WARDEN_DATABASE_URL: databaseUrl, WARDEN_SERVER_SECRET: secret, ...MULTIPLE_WRITERS };
    // The documented setup: the second replica's data dir starts with the first one's CA and keys.
    const secondDir = tempDataDir('warden-cp2-');
    t.after(() => removeDir(secondDir));
    for (const sub of ['ca', 'keys']) cpSync(join(serverDir, sub), join(secondDir, sub), { recursive: true });
    const second = startProcess(['--data-dir', secondDir, 'server', '--ready-json', '--port-admin', '0'], env);
    procs.push(second.proc);
    const readyB = (await second.firstLine) as { adminUrl: string; adminToken: string | null };
    assert.equal(readyB.adminToken, null, 'the second replica mints no admin token of its own');
    const adminB = new Agent({ connect: { ca } });
    agents.push(adminB);
    const apiB: Api = async (method, path, body) => {
      const r = await request(readyB.adminUrl + path, { method, dispatcher: adminB, headers: { authorization: `Bearer ${ready.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
    };

    // The gateway follows replica A; keys are created and revoked through replica B.
    const config = join(gatewayDir, 'gateway.yaml');
    writeFileSync(config, `gateway:\n  upstreams:\n    - name: demo\n      url: ${demoUrl}\n      models: [iris]\n`);
    const g = startProcess(['--data-dir', gatewayDir, '--config', config, 'gateway', '--control-plane', ready.adminUrl, '--ca', ready.caBundle, '--name', 'gw-a', '--port', '0', '--ready-json'], { WARDEN_SERVER_SECRET: secret, WARDEN_PEP_TOKEN: pepToken });
    procs.push(g.proc);
    const gatewayUrl = ((await g.firstLine) as { gatewayUrl: string }).gatewayUrl;
    const client = new Agent({ connect: { ca, servername: 'localhost' } });
    agents.push(client);
    const infer = async (key: string) => {
      const r = await request(gatewayUrl + '/v2/models/iris/infer', { method: 'POST', dispatcher: client, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: irisInferBody([[5.1, 3.5, 1.4, 0.2]]) });
      return { status: r.statusCode, json: (await r.body.json()) as { error?: { code: string } } };
    };
    const inferOrCut = (k: string) => orCutOff(infer(k));
    const within2s = async (want: (r: { status: number; json: { error?: { code: string } } }) => boolean, what: string) => {
      const from = Date.now();
      let r = await inferOrCut(key);
      while (!want(r) && Date.now() - from < 2000) {
        await new Promise((res) => setTimeout(res, 25));
        r = await inferOrCut(key);
      }
      assert.ok(want(r), `${what}: ${JSON.stringify(r.json)}`);
    };

    const created = await apiB('POST', '/api/v1/keys', { name: 'via-b', scopes: ['model:iris'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const key = created.json.key as string;
    await within2s((r) => r.status === 200, 'a key created through replica B works on replica A\'s gateway within 2 s');
    assert.equal((await apiB('POST', '/api/v1/keys/via-b/revoke')).status, 200);
    await within2s((r) => r.json.error?.code === 'WARDEN_AUTHN_KEY_REVOKED', 'a key revoked through replica B is refused on replica A\'s gateway within 2 s');
    // Both replicas keep writing: an admin change through A after B's, then one log that verifies.
    assert.equal((await api('POST', '/api/v1/keys', { name: 'via-a', scopes: ['model:iris'] })).status, 201);

    for (const p of procs.slice(1)) assert.equal(await stop(p), 0);
    const verify = spawnSync(process.execPath, [wardenBin, '--data-dir', serverDir, 'audit', 'verify', '--format', 'json'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const report = JSON.parse(verify.stdout) as { ok: boolean; size: number };
    assert.equal(report.ok, true);
    const actions = ((await api('GET', '/api/v1/audit/records?limit=200')).json as { entries?: { record: { action: string } }[]; records?: { record: { action: string } }[] });
    const seen = (actions.entries ?? actions.records ?? []).map((e) => e.record.action);
    assert.ok(seen.includes('keys.create') && seen.includes('keys.revoke'), `both replicas' admin records are in the one log: ${JSON.stringify(seen.slice(0, 20))}`);
  }, MULTIPLE_WRITERS);
});

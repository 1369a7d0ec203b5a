import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { startDemoModelServer } from '../../src/demo/index.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';
import { requireOrSkip } from '../helpers/ci.js';
import { wardenBin, tempDataDir, removeDir, irisInferBody } from '../helpers/warden.js';

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
  if (proc.exitCode !== null) return proc.exitCode;
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(t);
  return code;
}

test('three stateless gateways share one control plane on PostgreSQL: same keys, same policy, revocation everywhere, audit centralised', async (t) => {
  if (!requireOrSkip(t, await postgresAvailable(), 'PostgreSQL (WARDEN_TEST_DATABASE_URL)')) return;
  const database = await createTestDatabase();
  const serverDir = tempDataDir('warden-cp-');
  const gatewayDir = tempDataDir('warden-gw-');
  const demo = await startDemoModelServer();
  const secret = randomBytes(32).toString('base64');
  const procs: ChildProcess[] = [];
  try {
    const server = startProcess(['--data-dir', serverDir, 'server', '--ready-json', '--port-admin', '0'], { WARDEN_DATABASE_URL: database.url, WARDEN_SERVER_SECRET: secret });
    procs.push(server.proc);
    const ready = (await server.firstLine) as { adminUrl: string; caBundle: string; adminToken: string; gatewayUrl: null };
    assert.equal(ready.gatewayUrl, null);
    const ca = readFileSync(ready.caBundle, 'utf8');
    const admin = new Agent({ connect: { ca } });
    const api = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
      const r = await request(ready.adminUrl + path, { method, dispatcher: admin, headers: { authorization: `Bearer ${ready.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
    };

    const config = join(gatewayDir, 'gateway.yaml');
    writeFileSync(config, `gateway:\n  upstreams:\n    - name: demo\n      url: ${demo.url}\n      models: [iris, echo]\n`);
    const gateways = await Promise.all(
      [1, 2, 3].map(async (i) => {
        const g = startProcess(['--data-dir', gatewayDir, '--config', config, 'gateway', '--control-plane', ready.adminUrl, '--ca', ready.caBundle, '--name', `gw-${i}`, '--port', '0', '--ready-json'], {
          WARDEN_SERVER_SECRET: secret,
          WARDEN_PEP_TOKEN: ready.adminToken,
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

    const revokedAt = Date.now();
    assert.equal((await api('POST', `/api/v1/keys/fleet/revoke`)).status, 200);
    for (const url of gateways) {
      let r = await infer(url, key);
      while (r.status === 200 && Date.now() - revokedAt < 2000) {
        await new Promise((res) => setTimeout(res, 25));
        r = await infer(url, key);
      }
      assert.equal(r.json.error?.code, 'WARDEN_AUTHN_KEY_REVOKED', `${url} still accepts a revoked key 2 s after revocation`);
    }

    type Peps = { peps: { name: string; snapshotVersion: number }[]; currentVersion: number };
    let peps = (await api('GET', '/api/v1/pep/peps')).json as Peps;
    for (let i = 0; i < 40 && peps.peps.some((p) => p.snapshotVersion !== peps.currentVersion); i++) {
      await new Promise((res) => setTimeout(res, 50));
      peps = (await api('GET', '/api/v1/pep/peps')).json as Peps;
    }
    assert.deepEqual(peps.peps.map((p) => p.name).sort(), ['gw-1', 'gw-2', 'gw-3']);
    for (const p of peps.peps) assert.equal(p.snapshotVersion, peps.currentVersion, `${p.name} reports the current snapshot version`);

    // Gateways ship their decisions to the control plane's log; SIGTERM flushes them.
    for (const p of procs.slice(1)) assert.equal(await stop(p), 0);
    const records = (await api('GET', '/api/v1/audit/records?principal=' + encodeURIComponent('ApiKey::"fleet"') + '&limit=100')).json as { records?: { record?: { details?: { pep?: string }; decision?: string } }[]; entries?: unknown[] };
    const list = (records.records ?? records.entries ?? []) as { record?: { details?: { pep?: string }; decision?: string }; details?: { pep?: string } }[];
    const peps_ = new Set(list.map((e) => (e.record ?? e).details?.pep));
    assert.ok(['gw-1', 'gw-2', 'gw-3'].every((g) => peps_.has(g)), `audit records from every gateway: ${JSON.stringify([...peps_])}`);
    await admin.close();
    await client.close();
  } finally {
    for (const p of procs) await stop(p);
    await demo.close();
    await database.drop();
    removeDir(serverDir);
    removeDir(gatewayDir);
  }
});

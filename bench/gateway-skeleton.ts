// Walking-skeleton gateway benchmark (issue 2): requests/s and p50/p99 for
//   1. direct to the demo upstream (baseline),
//   2. a bare Node reverse proxy (undici, no checks) written here,
//   3. `warden up` (TLS in, API key, authorization, audit with fsync'd batches).
// All on 127.0.0.1, each target in its own process, bounded in time and count.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { runLoad, printTable } from './lib/load.js';

const root = resolve(import.meta.dirname, '..');
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5000);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const body = JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

const tmp = mkdtempSync(join(tmpdir(), 'warden-bench-'));
const warden = spawn(process.execPath, [join(root, 'bin/warden.js'), '--data-dir', tmp, 'up', '--demo', '--ready-json', '--port-gateway', '0', '--port-admin', '0'], {
  env: { ...process.env, WARDEN_LOG_LEVEL: 'error' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const ready = await new Promise<{ gatewayUrl: string; adminUrl: string; caBundle: string; adminToken: string; demoKey: string }>((res) =>
  createInterface({ input: warden.stdout! }).once('line', (l) => res(JSON.parse(l))),
);
const ca = readFileSync(ready.caBundle, 'utf8');
const agent = new Agent({ connect: { ca } });
const status = (await (await request(`${ready.adminUrl}/api/v1/status`, { dispatcher: agent, headers: { authorization: `Bearer ${ready.adminToken}` } })).body.json()) as { demoUpstream: string };
const upstream = status.demoUpstream;

// A bare reverse proxy with keep-alive and no checks: what "just proxying" costs in Node.
const proxyFile = join(tmp, 'bare-proxy.mjs');
writeFileSync(
  proxyFile,
  `import { createServer } from 'node:http';
import { Pool } from ${JSON.stringify(join(root, 'node_modules/undici/index.js'))};
const pool = new Pool(process.argv[2], { connections: 64 });
const server = createServer(async (req, res) => {
  const chunks = []; for await (const c of req) chunks.push(c);
  try {
    const r = await pool.request({ path: req.url, method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: chunks.length ? Buffer.concat(chunks) : undefined });
    res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] });
    for await (const c of r.body) res.write(c);
    res.end();
  } catch { res.writeHead(502); res.end(); }
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`,
);
const proxy = spawn(process.execPath, [proxyFile, upstream], { stdio: ['ignore', 'pipe', 'inherit'] });
const proxyPort = await new Promise<string>((res) => createInterface({ input: proxy.stdout! }).once('line', res));

const common = { path: '/v2/models/iris/infer', method: 'POST' as const, body, connections, durationMs, headers: { 'content-type': 'application/json' } };
// Warm-up so JIT and pools are hot for every target.
for (const url of [upstream, `http://127.0.0.1:${proxyPort}`]) await runLoad({ ...common, url, durationMs: 1000 });
await runLoad({ ...common, url: ready.gatewayUrl, ca, durationMs: 1000, headers: { ...common.headers, authorization: `Bearer ${ready.demoKey}` } });

const rows = [
  { name: 'direct (demo upstream, http)', result: await runLoad({ ...common, url: upstream }) },
  { name: 'bare Node proxy (undici, http)', result: await runLoad({ ...common, url: `http://127.0.0.1:${proxyPort}` }) },
  { name: 'warden up (https, API key, authz, audit)', result: await runLoad({ ...common, url: ready.gatewayUrl, ca, headers: { ...common.headers, authorization: `Bearer ${ready.demoKey}` } }) },
];
const table = printTable(`gateway skeleton — ${connections} connections, ${durationMs} ms per target, ${cpus().length} cores`, rows);
const warden_ = rows[2]!.result;
const bare = rows[1]!.result;
console.log(`warden / bare proxy throughput: ${(warden_.rps / bare.rps).toFixed(2)}×; added p50 over direct: ${(warden_.p50Ms - rows[0]!.result.p50Ms).toFixed(3)} ms`);
writeFileSync(join(root, 'bench/results/gateway-skeleton.md'), `## gateway-skeleton (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, \`npm run bench gateway-skeleton\`)\n\n${table}\n`);

proxy.kill();
warden.kill('SIGTERM');
await new Promise((r) => warden.once('exit', r));
await agent.close();
rmSync(tmp, { recursive: true, force: true });

// Identity benchmark: SVID issuance rate, fleet join time, revocation propagation.
// Run: node --import tsx bench/identity.ts   (BENCH_WORKERS=1000 BENCH_ISSUE_MS=3000 to change sizes)
// Loopback only; every loop is bounded in count and in time.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { openStore } from '../src/store/index.js';
import { loadOrCreateAuthority, createWorkloadKey, WorkloadAgent, IdentityClient, RevocationFeed, RevocationList, getIdentityService } from '../src/identity/index.js';
import { startSidecar, AllowListAuthorizer } from '../src/gateway/sidecar/index.js';
import { startControlPlane, ADMIN_TOKEN } from '../test/identity/helpers/controlPlane.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload, mtlsClient } from '../test/identity/helpers/workloads.js';

const ISSUE_MS = Number(process.env.BENCH_ISSUE_MS ?? 3000);
const OPENSSL_N = Number(process.env.BENCH_OPENSSL_N ?? 60);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1000);
const PEPS = Number(process.env.BENCH_PEPS ?? 4);
const TRIALS = Number(process.env.BENCH_REVOKE_TRIALS ?? 5);
/** Comma-separated subset of issue,fleet,revoke (default all). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'issue,fleet,revoke').split(','));

const rows: [string, string, string, string][] = [];
const ratio = (n: number) => `${fmt(n, n < 1 ? 2 : 1)}×`;
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: 'ignore' });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < n) await fn(next++);
  }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---------- 1. SVIDs issued per second from CSRs ----------
if (ONLY.has('issue')) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-id-'));
  const db = await openStore({});
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'bench.local', db });
  const csrs = Array.from({ length: 256 }, () => createWorkloadKey().csrPem);
  // warm-up
  for (let i = 0; i < 200; i++) await ca.issueX509SvidFromCsr(csrs[i % csrs.length]!, { spiffeId: 'spiffe://bench.local/warm' });
  let issued = 0;
  const t0 = performance.now();
  const stop = t0 + ISSUE_MS;
  await Promise.all(Array.from({ length: 32 }, async (_, w) => {
    while (performance.now() < stop && issued < 1_000_000) {
      await ca.issueX509SvidFromCsr(csrs[(issued + w) % csrs.length]!, { spiffeId: `spiffe://bench.local/worker/${issued % 1000}` });
      issued++;
    }
  }));
  await ca.close();
  const wardenRate = issued / ((performance.now() - t0) / 1000);
  // The CA alone (no inventory row per certificate), as the lead's listeners and tests use it.
  const bare = await loadOrCreateAuthority({ dataDir: join(dir, 'bare'), trustDomain: 'bench.local' });
  let bareIssued = 0;
  const c0 = performance.now();
  const cstop = c0 + ISSUE_MS;
  await Promise.all(Array.from({ length: 32 }, async (_, w) => {
    while (performance.now() < cstop && bareIssued < 1_000_000) {
      await bare.issueX509SvidFromCsr(csrs[(bareIssued + w) % csrs.length]!, { spiffeId: 'spiffe://bench.local/worker/1' });
      bareIssued++;
    }
  }));
  const bareRate = bareIssued / ((performance.now() - c0) / 1000);

  // Baseline: openssl x509 -req signing the same kind of CSR with an intermediate-style CA, 2 at a time.
  const caKey = join(dir, 'b-ca.key');
  const caCert = join(dir, 'b-ca.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCert, '-subj', '/O=Baseline CA', '-days', '30']);
  writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=URI:spiffe://bench.local/worker\n');
  csrs.slice(0, 8).forEach((c, i) => writeFileSync(join(dir, `c${i}.csr`), c));
  const b0 = performance.now();
  let done = 0;
  await pool(OPENSSL_N, cpus().length, async (i) => {
    await run('openssl', ['x509', '-req', '-in', join(dir, `c${i % 8}.csr`), '-CA', caCert, '-CAkey', caKey, '-set_serial', String(1000 + i), '-days', '1', '-sha256', '-extfile', join(dir, 'ext.cnf'), '-out', join(dir, `o${i % 8}.pem`)]);
    done++;
  });
  const opensslRate = done / ((performance.now() - b0) / 1000);
  rows.push(['X.509-SVIDs issued per second from CSRs (CA only, verify CSR + sign)', `${fmt(bareRate)} /s`, `${fmt(opensslRate)} /s (openssl x509 -req, ${cpus().length} parallel)`, `${fmt(bareRate / opensslRate, 1)}×`]);
  rows.push(['X.509-SVIDs issued per second from CSRs (CA + DB record)', `${fmt(wardenRate)} /s`, `${fmt(opensslRate)} /s (openssl x509 -req, ${cpus().length} parallel)`, `${fmt(wardenRate / opensslRate, 1)}×`]);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}

// ---------- 2. time for WORKERS workers to hold valid SVIDs ----------
if (ONLY.has('fleet')) {
  const cp = await startControlPlane();
  const identity = await getIdentityService(cp.ctx);
  const tokens: string[] = [];
  await pool(WORKERS, 8, async (i) => {
    tokens[i] = (await identity.tokens.create({ spiffeId: `spiffe://warden.local/env/prod/job/bench/worker/${i}`, ttlSeconds: 600 })).token;
  });
  const agents: WorkloadAgent[] = [];
  const t0 = performance.now();
  await pool(WORKERS, 64, async (i) => {
    const a = new WorkloadAgent({ serverUrl: cp.url, bundlePem: cp.ca.bundlePem(), joinToken: tokens[i]!, followRevocations: false });
    await a.start();
    agents.push(a);
  });
  const fleetMs = performance.now() - t0;
  const valid = agents.filter((a) => a.current()).length;
  await Promise.all(agents.map((a) => a.stop()));

  // Baseline: each worker runs openssl to make a key + CSR and the CA signs it with openssl (sample, extrapolated).
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-fleet-'));
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCert, '-subj', '/O=Baseline CA', '-days', '30']);
  const sample = Math.min(50, WORKERS);
  const b0 = performance.now();
  await pool(sample, cpus().length, async (i) => {
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `w${i}.key`), '-out', join(dir, `w${i}.csr`), '-subj', '/O=w']);
    await run('openssl', ['x509', '-req', '-in', join(dir, `w${i}.csr`), '-CA', caCert, '-CAkey', caKey, '-set_serial', String(i + 1), '-days', '1', '-out', join(dir, `w${i}.pem`)]);
  });
  const baselineMs = ((performance.now() - b0) / sample) * WORKERS;
  rmSync(dir, { recursive: true, force: true });
  rows.push([`time for ${fmt(WORKERS)} workers to hold valid SVIDs (join token → HTTPS attest, 64 at a time; ${valid} valid)`, `${fmt(fleetMs / 1000, 2)} s`, `${fmt(baselineMs / 1000, 2)} s (openssl req + x509 per worker, ${sample} sampled, scaled)`, `${fmt(baselineMs / fleetMs, 1)}×`]);
  await cp.close();
}

// ---------- 3. revocation propagation: admin call → first rejected request at every PEP ----------
if (ONLY.has('revoke')) {
  const cp = await startControlPlane();
  process.env.WARDEN_ADMIN_TOKEN = ADMIN_TOKEN;
  process.env.WARDEN_ADMIN_URL = cp.url;
  process.env.WARDEN_LOG_LEVEL = 'silent';
  const echo = await startEchoWorkload();
  const bundlePem = cp.ca.bundlePem();
  const peps: { url: string; close(): Promise<void>; feed: RevocationFeed; client: IdentityClient }[] = [];
  for (let i = 0; i < PEPS; i++) {
    const me = new StaticSvidSource(await issueMaterial(cp.ca, `spiffe://warden.local/env/prod/svc/model-${i}`));
    const client = new IdentityClient(cp.url, { bundlePem, chainPem: me.svid.chainPem, keyPem: me.svid.keyPem });
    const list = new RevocationList();
    const feed = new RevocationFeed(client, list);
    const ready = new Promise((r) => feed.once('connected', r));
    feed.start();
    await ready;
    const sc = await startSidecar({ trustDomain: 'warden.local', identity: me, revocations: list, authorizer: new AllowListAuthorizer([{ from: 'spiffe://warden.local/env/prod/*', to: '*', paths: ['*'], methods: ['*'] }]), upstreamUrl: echo.url });
    peps.push({ url: sc.url, close: sc.close, feed, client });
  }
  const admin = new Agent({ connect: { ca: bundlePem } });
  const revokeViaApi = async (spiffeId: string) => {
    const r = await request(cp.url + '/api/v1/identity/revoke', { method: 'POST', dispatcher: admin, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ spiffeId }) });
    await r.body.text();
  };
  /** Hammers every PEP with the victim's keep-alive connections; resolves with ms until each rejected it. */
  const measure = async (victimId: string, revoke: () => Promise<void>, windowMs = 10_000) => {
    const victim = await issueMaterial(cp.ca, victimId);
    const clients = peps.map(() => mtlsClient(victim));
    await Promise.all(peps.map(async (p, i) => (await request(p.url + '/x', { dispatcher: clients[i]! })).body.text()));
    const t0 = performance.now();
    const until = t0 + windowMs;
    const watchers = peps.map(async (p, i) => {
      while (performance.now() < until) {
        try {
          const r = await request(p.url + '/x', { dispatcher: clients[i]! });
          await r.body.text();
          if (r.statusCode === 403) return performance.now() - t0;
        } catch {
          return performance.now() - t0;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      return Infinity;
    });
    await revoke();
    const times = await Promise.all(watchers);
    await Promise.all(clients.map((c) => c.destroy()));
    return Math.max(...times);
  };
  const apiTimes: number[] = [];
  for (let i = 0; i < TRIALS; i++) apiTimes.push(await measure(`spiffe://warden.local/env/prod/svc/victim-api-${i}`, () => revokeViaApi(`spiffe://warden.local/env/prod/svc/victim-api-${i}`)));

  // The same, starting from the CLI process (`warden identity revoke`), run from source through tsx.
  const runner = new URL('../test/identity/helpers/runCli.ts', import.meta.url).pathname;
  const cliTimes: number[] = [];
  for (let i = 0; i < Math.min(TRIALS, 3); i++) {
    const id = `spiffe://warden.local/env/prod/svc/victim-cli-${i}`;
    // TypeScript compilation at process start (tsx) dominates this row on a loaded machine.
    cliTimes.push(await measure(id, () => run(process.execPath, ['--import', 'tsx', runner, '--data-dir', cp.dataDir, 'identity', 'revoke', '--spiffe-id', id]), 60_000));
  }
  // Baseline: a PEP that learns revocations by polling the CRL every second (the usual third-party path).
  const { x509 } = await import('../test/identity/helpers/fixtures.js');
  const crlTimes: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const victim = await issueMaterial(cp.ca, `spiffe://warden.local/env/prod/svc/victim-crl-${i}`);
    const anon = new Agent({ connect: { ca: bundlePem } });
    let revokedAt = 0;
    let seen = Infinity;
    const poller = (async () => {
      for (let k = 0; k < 20; k++) {
        const started = performance.now();
        const r = await request(cp.url + '/api/v1/identity/crl?format=pem', { dispatcher: anon });
        const crl = new x509.X509Crl(await r.body.text());
        if (revokedAt && crl.entries.some((e) => e.serialNumber.replace(/^0+/, '').toLowerCase() === victim.serial)) {
          seen = performance.now() - revokedAt;
          return;
        }
        await new Promise((res) => setTimeout(res, Math.max(0, 1000 - (performance.now() - started))));
      }
    })();
    // Revoke at a random phase of the poller's 1 s cycle.
    await new Promise((res) => setTimeout(res, 50 + Math.random() * 1000));
    revokedAt = performance.now();
    await revokeViaApi(victim.spiffeId);
    await poller;
    await anon.close();
    crlTimes.push(seen);
  }
  rows.push([`revocation: admin API call → revoked identity rejected at all ${PEPS} PEPs (median of ${TRIALS}, keep-alive conns)`, `${fmt(median(apiTimes), 1)} ms`, `${fmt(median(crlTimes), 0)} ms (CRL polled every 1 s)`, `${fmt(median(crlTimes) / median(apiTimes), 0)}×`]);
  rows.push([`revocation: \`warden identity revoke\` process start → rejected at all ${PEPS} PEPs (median of ${cliTimes.length})`, `${fmt(median(cliTimes), 0)} ms`, `${fmt(median(crlTimes), 0)} ms (CRL polled every 1 s)`, ratio(median(crlTimes) / median(cliTimes))]);
  await admin.close();
  for (const p of peps) {
    p.feed.stop();
    await p.close();
    await p.client.close();
  }
  echo.server.close();
  await cp.close();
}

console.log(`\nidentity benchmark — ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
const header: [string, string, string, string] = ['measure', 'Warden', 'baseline (same run)', 'ratio'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
console.log(line(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(line(r));
process.exit(0);

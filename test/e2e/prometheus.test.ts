import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startWardenProcess, wardenClient, removeDir, tempDataDir, type WardenProcess } from '../helpers/warden.js';
import { hasCommand, requireOrSkip } from '../helpers/ci.js';
import { freePort } from '../helpers/net.js';

const METRICS_TOKEN = 'prom-scrape-token-4f1c2a9b7d0e3f5a6b8c9d';
const hasPrometheus = hasCommand('prometheus');

let warden: WardenProcess | null = null;
let prometheus: ChildProcess | null = null;
let promUrl = '';
let promDir = '';
let promLog = '';
let dataDir = '';


interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(expr: string): Promise<PromVector[]> {
  const res = await request(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.body.json()) as { status: string; data: { result: PromVector[] } };
  assert.equal(body.status, 'success');
  return body.data.result;
}

/** Polls a PromQL query until it returns enough (Prometheus scrapes every second). */
async function eventually(expr: string, timeoutMs = 30_000, minResults = 1): Promise<PromVector[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await promQuery(expr).catch(() => []);
    if (r.length >= minResults) return r;
    if (Date.now() > end) throw new Error(`no result for ${expr} after ${timeoutMs} ms; prometheus log tail:\n${promLog.slice(-2000)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

before(async () => {
  if (!hasPrometheus) return;
  dataDir = tempDataDir('warden-prom-');
  warden = await startWardenProcess({ dataDir, timeoutMs: 120_000, configYaml: `observe:\n  metricsToken: ${METRICS_TOKEN}\n` });
  const { ready } = warden;

  // Traffic the series must reflect: allowed calls, an unknown key, a model outside the key's scope.
  const client = wardenClient(ready.caBundle);
  const chat = (key: string, model: string) =>
    client.call('POST', `${ready.gatewayUrl}/v1/chat/completions`, { headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  for (let i = 0; i < 5; i++) assert.equal((await chat(ready.demoKey!, 'echo')).status, 200);
  assert.equal((await chat('wdn_aaaaaaaaaaaa_' + 'A'.repeat(43), 'echo')).status, 401);
  assert.equal((await chat(ready.demoKey!, 'no-such-model-' + 'x'.repeat(20))).status, 403);
  await client.close();

  promDir = mkdtempSync(join(tmpdir(), 'warden-prometheus-'));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const hostPort = (u: string) => new URL(u).host;
  const job = (name: string, url: string) => `
  - job_name: ${name}
    scheme: https
    scrape_interval: 1s
    scrape_timeout: 900ms
    metrics_path: /metrics
    authorization:
      credentials: ${METRICS_TOKEN}
    tls_config:
      ca_file: ${ready.caBundle}
    static_configs:
      - targets: ['${hostPort(url)}']`;
  writeFileSync(join(promDir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:${job('warden-admin', ready.adminUrl)}${job('warden-gateway', ready.gatewayUrl)}\n`);
  prometheus = spawn('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.stdout!.on('data', (c: Buffer) => (promLog += c.toString()));
  prometheus.stderr!.on('data', (c: Buffer) => (promLog += c.toString()));
  const end = Date.now() + 30_000;
  for (;;) {
    const ok = await request(`${promUrl}/-/ready`).then((r) => (r.body.dump(), r.statusCode === 200)).catch(() => false);
    if (ok) break;
    if (Date.now() > end || prometheus.exitCode !== null) throw new Error(`prometheus did not become ready:\n${promLog}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await warden?.stop();
  if (promDir) removeDir(promDir);
  if (dataDir) removeDir(dataDir);
});

test('a real Prometheus scrapes the admin API and the gateway (bearer token, Warden CA)', async (t) => {
  if (!requireOrSkip(t, hasPrometheus, 'prometheus (Debian package prometheus)')) return;
  const up = await eventually('up{job=~"warden-admin|warden-gateway"} == 1', 30_000, 2);
  assert.deepEqual(up.map((v) => v.metric.job).sort(), ['warden-admin', 'warden-gateway']);
});

test('gateway series: requests by route/model/decision/code, overhead histogram, snapshot version, upstream health', async (t) => {
  if (!requireOrSkip(t, hasPrometheus, 'prometheus')) return;
  const allowed = await eventually('warden_gateway_requests_total{job="warden-gateway",route="openai.chat",model="echo",decision="allow",code=""}');
  assert.ok(Number(allowed[0]!.value[1]) >= 5);
  await eventually('warden_gateway_requests_total{job="warden-gateway",decision="deny",code="WARDEN_AUTHN_KEY_INVALID"}');
  // The client-chosen model name never becomes a label value.
  const denied = await eventually('warden_gateway_requests_total{job="warden-gateway",decision="deny",code="WARDEN_AUTHZ_DENIED"}');
  assert.deepEqual([...new Set(denied.map((v) => v.metric.model))], ['other']);
  const overhead = await eventually('warden_gateway_overhead_seconds_count{job="warden-gateway",route="openai.chat"}');
  assert.ok(Number(overhead[0]!.value[1]) >= 5);
  const buckets = await eventually('warden_gateway_overhead_seconds_bucket{job="warden-gateway",route="openai.chat"}', 30_000, 5);
  assert.ok(buckets.some((b) => b.metric.le === '0.001'), 'sub-millisecond buckets exist');
  await eventually('warden_gateway_upstream_seconds_count{job="warden-gateway",model="echo"} >= 5');
  const snap = await eventually('warden_pep_snapshot_version{job="warden-gateway",pep="gateway"}');
  assert.ok(Number(snap[0]!.value[1]) >= 1);
  await eventually('warden_upstream_up{job="warden-gateway",upstream="demo"} == 1');
  await eventually('warden_audit_queue_depth{job="warden-gateway",pep="gateway"}');
});

test('control-plane series: incidents by state, SVIDs by expiry, audit entries, process metrics', async (t) => {
  if (!requireOrSkip(t, hasPrometheus, 'prometheus')) return;
  const states = await eventually('warden_incidents{job="warden-admin"}', 30_000, 5);
  assert.deepEqual(states.map((v) => v.metric.state).sort(), ['closed', 'contained', 'eradicated', 'open', 'recovered']);
  const svids = await eventually('warden_svids{job="warden-admin"}', 30_000, 3);
  assert.deepEqual(svids.map((v) => v.metric.expires_in).sort(), ['1h_24h', 'gt_24h', 'lt_1h']);
  const entries = await eventually('warden_audit_entries{job="warden-admin"} > 0');
  assert.ok(Number(entries[0]!.value[1]) > 0);
  await eventually('warden_audit_unsigned_entries{job="warden-admin"}');
  await eventually('warden_process_resident_memory_bytes{job="warden-admin"} > 0');
});

test('no series carries a secret, a principal or a raw path in its labels', async (t) => {
  if (!requireOrSkip(t, hasPrometheus, 'prometheus')) return;
  const res = await request(`${promUrl}/api/v1/series?match[]=${encodeURIComponent('{__name__=~"warden_.+"}')}`);
  const body = (await res.body.json()) as { data: Record<string, string>[] };
  assert.ok(body.data.length > 10);
  const allowed = new Set(['__name__', 'job', 'instance', 'route', 'model', 'decision', 'code', 'le', 'pep', 'upstream', 'state', 'expires_in', 'kind', 'rule', 'severity', 'action', 'outcome', 'detector', 'quantile', 'version', 'major', 'minor', 'patch', 'type', 'space', 'feature']);
  for (const s of body.data) {
    for (const [k, v] of Object.entries(s)) {
      assert.ok(allowed.has(k), `unexpected label ${k} on ${s.__name__}`);
      assert.ok(!v.includes('wdn_') && !v.includes(METRICS_TOKEN) && !v.includes('ApiKey::') && !v.startsWith('/v'), `label ${k}=${v} on ${s.__name__}`);
    }
  }
});

test('/metrics refuses a scrape without the token on both listeners', async (t) => {
  if (!requireOrSkip(t, hasPrometheus, 'prometheus')) return;
  const client = wardenClient(warden!.ready.caBundle);
  try {
    for (const base of [warden!.ready.adminUrl, warden!.ready.gatewayUrl]) {
      const r = await client.call('GET', `${base}/metrics`);
      assert.equal(r.status, 401, base);
      assert.equal((r.json as { error: { code: string } }).error.code, 'WARDEN_OBSERVE_METRICS_UNAUTHORIZED');
      const wrong = await client.call('GET', `${base}/metrics`, { headers: { authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 401);
      const ok = await client.call('GET', `${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(ok.status, 200);
      assert.match(String(ok.headers['content-type']), /^text\/plain/);
    }
  } finally {
    await client.close();
  }
});

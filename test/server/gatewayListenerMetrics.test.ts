// `warden up` serves one process registry on both listeners: the control plane's store-backed
// gauges must be current on the gateway's /metrics even when the admin listener is never scraped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden } from '../../src/server/index.js';
import { tempDataDir, removeDir } from '../helpers/warden.js';

const METRICS_TOKEN = 'gateway-listener-metrics-token-0123456789';
const gauge = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

test("warden up: the gateway listener's /metrics reports the audit log's entries without the admin listener being scraped", async () => {
  const dataDir = tempDataDir('warden-gwmetrics-');
  const config = loadConfig({ dataDir, cwd: dataDir, env: { WARDEN_OBSERVE_METRICS_TOKEN: METRICS_TOKEN }, overrides: { 'gateway.port': 0, 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false });
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8'), servername: 'localhost' } });
  const authorization = `Bearer ${METRICS_TOKEN}`;
  try {
    await warden.audit.append({ ts: new Date().toISOString(), kind: 'admin', action: 'test.metrics', principal: 'Admin::"test"', decision: 'allow' });
    await warden.audit.flush();
    assert.ok(warden.audit.size > 0);
    const r = await request(`${warden.ready.gatewayUrl}/metrics`, { dispatcher: agent, headers: { authorization } });
    const text = await r.body.text();
    assert.equal(r.statusCode, 200, text);
    assert.equal(gauge(text, 'warden_audit_entries'), warden.audit.size);
    const unsigned = warden.audit.size - (warden.audit.latestCheckpoint()?.size ?? 0);
    assert.equal(gauge(text, 'warden_audit_unsigned_entries'), unsigned);

    // Scrapes, concurrent or back to back (the admin listener's /metrics needs no token by default),
    // must not each become store queries (the store-backed gauges are refreshed at most every 5 s).
    let svidQueries = 0;
    const query = warden.db.query.bind(warden.db);
    warden.db.query = ((sql: string, params?: unknown[]) => {
      if (sql.includes('identity_svids')) svidQueries++;
      return query(sql, params as never);
    }) as typeof warden.db.query;
    const scrape = async () => (await request(`${warden.ready.gatewayUrl}/metrics`, { dispatcher: agent, headers: { authorization } })).body.text();
    await Promise.all(Array.from({ length: 30 }, scrape));
    for (let i = 0; i < 20; i++) await scrape();
    assert.ok(svidQueries <= 1, `${svidQueries} store refreshes for 50 scrapes`);
    await warden.audit.append({ ts: new Date().toISOString(), kind: 'admin', action: 'test.metrics', principal: 'Admin::"test"', decision: 'allow' });
    await warden.audit.flush();
    assert.equal(gauge(await scrape(), 'warden_audit_entries'), warden.audit.size, 'the audit gauges stay current on every scrape');
  } finally {
    await agent.close();
    await warden.close();
    removeDir(dataDir);
  }
});

test("warden up without observe.metricsToken: the gateway listener refuses every /metrics scrape, the admin listener serves it", { timeout: 120_000 }, async (t) => {
  const dataDir = tempDataDir('warden-gwmetrics-open-');
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'gateway.port': 0, 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: true });
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8'), servername: 'localhost' } });
  t.after(async () => {
    await agent.close();
    await warden.close();
    removeDir(dataDir);
  });
  // Clients reach the gateway listener; its series would name every model and its traffic.
  for (const headers of [{}, { authorization: 'Bearer ' }, { authorization: 'Bearer anything' }, { authorization: `Bearer ${warden.ready.demoKey}` }] as Record<string, string>[]) {
    for (const method of ['GET', 'HEAD'] as const) {
      const r = await request(`${warden.ready.gatewayUrl}/metrics`, { method, dispatcher: agent, headers });
      const text = await r.body.text();
      assert.equal(r.statusCode, 401, `${method} ${JSON.stringify(headers)}: ${text}`);
      if (method === 'GET') {
        assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'WARDEN_OBSERVE_METRICS_UNAUTHORIZED');
        assert.doesNotMatch(text, /iris|echo|warden_/);
      }
    }
  }
  // The admin listener (loopback by default, the operator's side) still serves the same registry.
  const admin = await request(`${warden.ready.adminUrl}/metrics`, { dispatcher: agent });
  const text = await admin.body.text();
  assert.equal(admin.statusCode, 200, text);
  assert.match(text, /# TYPE warden_gateway_requests_total counter/);
});

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

const gauge = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

test("warden up: the gateway listener's /metrics reports the audit log's entries without the admin listener being scraped", async () => {
  const dataDir = tempDataDir('warden-gwmetrics-');
  const config = loadConfig({ dataDir, cwd: dataDir, env: {}, overrides: { 'gateway.port': 0, 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false });
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8'), servername: 'localhost' } });
  try {
    await warden.audit.append({ ts: new Date().toISOString(), kind: 'admin', action: 'test.metrics', principal: 'Admin::"test"', decision: 'allow' });
    await warden.audit.flush();
    assert.ok(warden.audit.size > 0);
    const r = await request(`${warden.ready.gatewayUrl}/metrics`, { dispatcher: agent });
    const text = await r.body.text();
    assert.equal(r.statusCode, 200, text);
    assert.equal(gauge(text, 'warden_audit_entries'), warden.audit.size);
    const unsigned = warden.audit.size - (warden.audit.latestCheckpoint()?.size ?? 0);
    assert.equal(gauge(text, 'warden_audit_unsigned_entries'), unsigned);

    // The gateway's /metrics needs no token by default: scrapes, concurrent or back to back, must
    // not each become store queries (the store-backed gauges are refreshed at most every 5 s).
    let svidQueries = 0;
    const query = warden.db.query.bind(warden.db);
    warden.db.query = ((sql: string, params?: unknown[]) => {
      if (sql.includes('identity_svids')) svidQueries++;
      return query(sql, params as never);
    }) as typeof warden.db.query;
    const scrape = async () => (await request(`${warden.ready.gatewayUrl}/metrics`, { dispatcher: agent })).body.text();
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

// An upstream that accepts TCP but never completes the TLS handshake: the mTLS connector is the
// gateway's own, so undici's connect timeout does not apply to it and nothing else bounds it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as netServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { loadOrCreateAuthority } from '../../src/identity/index.js';
import { issueMaterial } from '../identity/helpers/workloads.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

test('an mTLS upstream stuck in the handshake: 504 within the upstream timeout, audited, marked down by its health check; the gateway still shuts down', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-connect-timeout-'));
  const ca = await loadOrCreateAuthority({ dataDir: dir, trustDomain: 'warden.local' });
  const sockets: Socket[] = [];
  const silent = netServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  try {
    const material = await issueMaterial(ca, 'spiffe://warden.local/warden/gateway/test');
    const records: AuditRecord[] = [];
    const health: string[] = [];
    const gw = await startTestGateway({
      audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
      onUpstreamHealth: (name, up) => health.push(`${name}:${up}`),
      upstreamSvid: { current: () => material },
      trustDomain: 'warden.local',
      upstreams: [upstreamConfig.parse({ name: 'm', url: `https://127.0.0.1:${(silent.address() as { port: number }).port}`, models: ['m'], timeoutMs: 1000, retries: 1, mtls: {}, healthCheck: { path: '/healthz', intervalMs: 200, timeoutMs: 100 } })],
    });
    const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'x' }), headersTimeout: 10_000 });
    const json = (await r.body.json()) as { error?: { code: string } };
    assert.equal(r.statusCode, 504);
    assert.equal(json.error?.code, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT');
    for (let i = 0; i < 50 && records.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(records[0]?.status, 504);
    assert.equal(gw.inFlight(), 0);
    for (let i = 0; i < 100 && !health.includes('m:false'); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(health.includes('m:false'), `the health check saw the upstream down: ${health.join(', ')}`);
    await gw.close(0);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
    await ca.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

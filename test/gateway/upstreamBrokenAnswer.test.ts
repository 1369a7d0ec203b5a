// An upstream answer that breaks off while the gateway reads it whole (output guards, token
// accounting) has not reached the client yet: the client gets a clean 502 / 504, not a reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import { MemoryRateLimiter, RateLimitPolicy } from '../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

for (const [mode, status, code] of [
  ['reset', 502, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE'],
  ['stall', 504, 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT'],
] as const) {
  test(`an answer that ${mode === 'reset' ? 'is cut off' : 'stalls'} mid-body while the gateway reads it: ${status} ${code}, audited as such`, async () => {
    const open: ServerResponse[] = [];
    const upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"object":"list",');
        open.push(res);
        if (mode === 'reset') setTimeout(() => res.socket?.destroy(), 50);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const records: AuditRecord[] = [];
    const gw = await startTestGateway({
      upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'], timeoutMs: 500 })],
      audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
      // A token limit makes the gateway read the answer whole (to charge its usage).
      rateLimit: new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 1_000_000 }], { limiter: new MemoryRateLimiter() }),
    });
    try {
      const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'x' }) });
      const json = (await r.body.json()) as { error?: { code: string } };
      assert.equal(r.statusCode, status);
      assert.equal(json.error?.code, code);
      for (let i = 0; i < 50 && records.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
      assert.equal(records[0]?.status, status);
      assert.equal(records[0]?.code, code);
    } finally {
      await gw.close(0);
      for (const res of open) res.destroy();
      upstream.closeAllConnections();
      upstream.close();
    }
  });
}

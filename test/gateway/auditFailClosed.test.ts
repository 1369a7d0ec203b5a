import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

test('an audit writer that can keep no more records (queue and spool full): requests are refused with 503, not served unaudited', async () => {
  let full = true;
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'u', url: 'http://127.0.0.1:9', models: ['m'] })],
    audit: { append: async () => undefined, queueDepth: 0, flush: async () => undefined, close: async () => undefined, get failingClosed() { return full; } },
  });
  try {
    const r = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    assert.equal(r.statusCode, 503);
    assert.equal(((await r.body.json()) as { error: { code: string } }).error.code, 'WARDEN_AUDIT_WRITE_FAILED');
    const notReady = await request(`${gw.url}/readyz`);
    assert.equal(notReady.statusCode, 503, 'load balancers send traffic elsewhere');
    await notReady.body.dump();
    full = false;
    const ready = await request(`${gw.url}/readyz`);
    assert.equal(ready.statusCode, 200);
    await ready.body.dump();
    const ok = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
  } finally {
    await gw.close(0);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { requireOrSkip } from '../../helpers/ci.js';
import { testRedis } from '../../helpers/testRedis.js';
import { createRateLimitPolicy } from '../../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../../helpers/inProcessGateway.js';
import { mockUpstream, sleep } from '../../helpers/tokenUpstream.js';

// Redis concurrency leases are renewed while their request runs: a lease that expired under a
// live stream let one more request in per lease period, past `concurrent`.

const redis = testRedis();
const { url, prefix } = redis;

test('a stream that outlives concurrencyLeaseSeconds keeps its slot; the slot frees when it ends', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  // 20 chunks, one per 250 ms: a 5 s stream against a 1 s lease (the probes below end by ~2.5 s, with room for a loaded machine).
  const upstream = await mockUpstream((_b, _req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      if (i++ < 20) res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'tok ' }, finish_reason: null }] })}\n\n`);
      else {
        clearInterval(timer);
        res.end('data: [DONE]\n\n');
      }
    }, 250);
  });
  const rl = createRateLimitPolicy({
    backend: 'redis',
    redisUrl: url,
    redisKeyPrefix: prefix,
    onStoreDown: 'fail-closed',
    redisTimeoutMs: 1000,
    maxKeys: 1000,
    concurrencyLeaseSeconds: 1,
    completionReserveTokens: 1024,
    maxCompletionReserveTokens: 32_768,
    rules: [{ match: { key: '*' }, concurrent: 1 }],
  });
  await rl.ready();
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], timeoutMs: 5000 })], rateLimit: rl.policy });
  const open = () =>
    request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  try {
    const first = await open();
    assert.equal(first.statusCode, 200);
    const done = first.body.text();
    const later: number[] = [];
    for (const wait of [1500, 1000]) {
      await sleep(wait);
      const r = await open();
      later.push(r.statusCode);
      await r.body.text();
    }
    assert.deepEqual(later, [429, 429], 'the slot stays held past the 1 s lease while the stream runs');
    assert.match(await done, /\[DONE\]/);
    // The release is one Redis call after the answer ended: poll briefly rather than guess its timing.
    let next = await open();
    for (let i = 0; i < 30 && next.statusCode === 429; i++) {
      await next.body.text();
      await sleep(100);
      next = await open();
    }
    assert.equal(next.statusCode, 200, 'released once the stream ended');
    await next.body.text();
    await sleep(1500);
    assert.deepEqual(await redis.admin.keys(`${prefix}*`), [], 'no renewal outlives its release: the slot set expired');
  } finally {
    await gw.close(0);
    await rl.close();
    await upstream.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireOrSkip } from '../../helpers/ci.js';
import { testRedis } from '../../helpers/testRedis.js';
import { MemoryRateLimiter, RedisRateLimiter, RateLimitPolicy, RateLimitedError, MAX_RETRY_AFTER_SECONDS, promptTokenCeiling, COMPLETION_CEILING_TOKENS, reserveCompletionTokens, DEFAULT_COMPLETION_RESERVE, type RateLimiter } from '../../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../../src/config/index.js';
import { startTestGateway } from '../../helpers/inProcessGateway.js';
import { chargeMeter, mockUpstream, post, settledCharge } from '../../helpers/tokenUpstream.js';

// An upstream's usage is bounded: one answer claiming 2^64 tokens locked its principal out for
// millions of years, 1e308 gave `retry-after: Infinity`, and on Redis left the bucket without a TTL.

const U64_MAX = 18446744073709551615;
const HOUR_MS = 3_600_000;
const redis = testRedis();
const { url, prefix } = redis;

for (const total of [U64_MAX, 1e308]) {
  test(`a reported total of ${total} is charged at most the call's ceiling (body bytes + template allowance, + the completion ceiling)`, async () => {
    const upstream = await mockUpstream((_b, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: total - 3, total_tokens: total } }));
    });
    const limiter = new MemoryRateLimiter();
    const meter = chargeMeter(limiter);
    // A burst of 1 M holds one ceiling (~133 000: the ceiling no longer follows the client's max_tokens,
    // clientShapedUsage.test.ts) but not an hour of debt.
    const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 6_000_000 }], { limiter });
    const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] })], rateLimit: policy });
    try {
      const chat = { model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
      assert.equal((await post(gw, '/v1/chat/completions', chat)).status, 200);
      assert.equal(await settledCharge(meter.charged), promptTokenCeiling(chat, Buffer.byteLength(JSON.stringify(chat))) + COMPLETION_CEILING_TOKENS);
      assert.equal((await post(gw, '/v1/chat/completions', chat)).status, 200, 'the principal is not locked out');
    } finally {
      await gw.close(0);
      await upstream.close();
    }
  });
}

test('memory buckets: debt is floored at an hour of refill, so the wait is finite and bounded', () => {
  const rl = new MemoryRateLimiter();
  const limit = { ratePerMinute: 60_000, burst: 10_000 };
  for (const cost of [U64_MAX, 1e308, Number.MAX_VALUE]) {
    rl.adjust(`k${cost}`, cost, limit);
    const r = rl.take(`k${cost}`, 1, limit);
    assert.equal(r.allowed, false);
    assert.ok(Number.isFinite(r.retryAfterMs) && r.retryAfterMs > HOUR_MS - 1000 && r.retryAfterMs <= HOUR_MS + 1, String(r.retryAfterMs));
  }
});

test('RateLimitedError: retry-after is 1 s to a day; an overflowed wait is the longest, never 1 s', () => {
  const after = (ms: number) => new RateLimitedError('WARDEN_GATEWAY_RATE_LIMITED', 'x', ms).retryAfterSeconds;
  assert.equal(after(0), 1);
  assert.equal(after(1500), 2);
  assert.equal(after(1e12), MAX_RETRY_AFTER_SECONDS);
  assert.equal(after(Number.POSITIVE_INFINITY), MAX_RETRY_AFTER_SECONDS);
  assert.equal(after(Number.NaN), MAX_RETRY_AFTER_SECONDS);
  assert.equal(after(-9.2e18), MAX_RETRY_AFTER_SECONDS, 'a wait that overflowed to a negative number');
});

test('Redis buckets: absurd debt keeps an integer TTL of at most a day and a bounded positive wait', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const rl = new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 1000 });
  try {
    await rl.ready();
    const limit = { ratePerMinute: 60_000, burst: 10_000 };
    for (const cost of [U64_MAX, 1e308]) {
      const key = `abs${cost}`;
      await rl.adjust(key, cost, limit);
      const pttl = await redis.admin.pttl(`${prefix}${key}`);
      assert.ok(pttl > 0 && pttl <= 86_400_000, `PTTL ${pttl}`);
      const r = await rl.take(key, 1, limit);
      assert.equal(r.allowed, false);
      assert.ok(r.retryAfterMs > HOUR_MS - 1000 && r.retryAfterMs <= HOUR_MS + 1, String(r.retryAfterMs));
    }
    // A bucket that would need more than a day to refill (a huge burst at a slow rate) is capped too.
    const slow = { ratePerMinute: 1, burst: 1e9 };
    await rl.adjust('slow', 1e9, slow);
    const pttl = await redis.admin.pttl(`${prefix}slow`);
    assert.ok(pttl > 0 && pttl <= 86_400_000, `PTTL ${pttl}`);
    const r = await rl.take('slow', 10, slow);
    assert.ok(r.retryAfterMs >= 1 && r.retryAfterMs <= 86_400_000, String(r.retryAfterMs));
  } finally {
    await rl.close();
  }
});

/**
 * A reservation far above the debt floor (max_tokens 32768 under 500 tokens/min: floor -30 000)
 * must be refunded only what was taken: the floor once clipped the charge but not the refund, so
 * every such call came back free and 100 calls of 2000 tokens passed in a second.
 */
async function callsAdmittedUnderSmallLimit(limiter: RateLimiter, tick: () => void): Promise<number> {
  const policy = new RateLimitPolicy([{ tokensPerMinute: 500 }], { limiter, completionReserve: DEFAULT_COMPLETION_RESERVE });
  let admitted = 0;
  for (let i = 0; i < 100; i++) {
    tick();
    let grant;
    try {
      grant = await policy.check({ principal: 'User::"a"', key: null, tenant: null, model: 'm', estimatedTokens: 10, completion: reserveCompletionTokens({ max_tokens: 32_768 }, DEFAULT_COMPLETION_RESERVE) });
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'WARDEN_GATEWAY_RATE_LIMITED');
      continue;
    }
    admitted++;
    await policy.correctTokens(grant, 2000);
    grant.release();
  }
  return admitted;
}

test('a reservation beyond the debt floor is refunded no more than was taken (memory)', async () => {
  let now = 0;
  const admitted = await callsAdmittedUnderSmallLimit(new MemoryRateLimiter({ now: () => now }), () => (now += 10));
  assert.equal(admitted, 1, '2000 tokens each under 500/min: one call in a second, then the bucket owes minutes');
});

test('a reservation beyond the debt floor is refunded no more than was taken (Redis)', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const rl = new RedisRateLimiter({ redis: url, keyPrefix: `${prefix}floor:`, timeoutMs: 1000 });
  try {
    await rl.ready();
    assert.equal(await callsAdmittedUnderSmallLimit(rl, () => undefined), 1);
  } finally {
    await rl.close();
  }
});

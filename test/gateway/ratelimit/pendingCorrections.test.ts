import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { requireOrSkip } from '../../helpers/ci.js';
import { testRedis } from '../../helpers/testRedis.js';
import { tcpProxy, type TcpProxy } from '../../helpers/tcpProxy.js';
import { request } from 'undici';
import { RedisRateLimiter, createRateLimitPolicy, type RedisRateLimiterOptions } from '../../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../../helpers/inProcessGateway.js';
import { mockUpstream, sleep } from '../../helpers/tokenUpstream.js';

// Usage corrections (the upstream's real usage in place of the admission estimate) that failed
// because Redis was down were lost: a stream admitted before an outage and finished during it
// was never charged its real usage, nor refunded its unused reservation.

const redis = testRedis();
const { url, prefix } = redis;
/** 1 token a minute: refill stays far below 1 token over a test, so bucket levels are exact to ±1. */
const limit = { ratePerMinute: 1, burst: 1000 };

/** A limiter whose connection to the test Redis goes through a proxy the test can stop and start. */
async function limiterBehindProxy(t: TestContext, o: Partial<RedisRateLimiterOptions> = {}): Promise<{ rl: RedisRateLimiter; proxy: TcpProxy; proxyUrl: string }> {
  const { proxy, proxyUrl } = await redisProxy(t);
  // Generous: the machine is shared, and these outages are a closed port, not a slow Redis.
  const rl = new RedisRateLimiter({ redis: proxyUrl, keyPrefix: prefix, timeoutMs: 2000, ...o });
  t.after(() => rl.close());
  await rl.ready();
  return { rl, proxy, proxyUrl };
}

/** A stoppable proxy to the test Redis, and the Redis URL through it (credentials and database kept). */
async function redisProxy(t: TestContext): Promise<{ proxy: TcpProxy; proxyUrl: string }> {
  const target = new URL(url);
  const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
  t.after(() => proxy.stop());
  const via = new URL(url);
  via.hostname = '127.0.0.1';
  via.port = String(proxy.port);
  return { proxy, proxyUrl: via.toString() };
}

/** Cuts Redis off and waits until the client knows it (commands then fail before being written). */
async function outage(proxy: TcpProxy, rl: RedisRateLimiter): Promise<void> {
  await proxy.stop();
  const client = (rl as unknown as { redis: Redis }).redis;
  await until(() => client.status !== 'ready', 5000, 'the client saw the connection close');
}

async function until(done: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await sleep(25);
  }
}

/** The bucket's level as Redis holds it (null: no bucket). */
async function tokens(key: string): Promise<number | null> {
  const t = await redis.admin.hget(prefix + key, 't');
  return t === null ? null : Number(t);
}

function near(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1, `${what}: expected ≈ ${expected}, got ${actual}`);
}

test('fail-closed: corrections made while Redis is unreachable are applied once, summed per bucket, when it answers again', { timeout: 30_000 }, async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const errors: unknown[] = [];
  const { rl, proxy } = await limiterBehindProxy(t, { onStoreError: (e) => errors.push(e) });
  assert.equal((await rl.take('stream', 900, limit)).remaining, 100, 'admitted at its estimate');
  await outage(proxy, rl);
  // Streams on this bucket end during the outage: their unused reservations are refunded.
  await assert.rejects(rl.adjust('stream', -800, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  await assert.rejects(rl.adjust('stream', -50, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  await assert.rejects(rl.adjust('overran', 300, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  assert.equal(rl.pendingCorrections, 2, 'one pending entry per bucket');
  near(await tokens('stream'), 100, 'nothing reached Redis during the outage');
  assert.equal(await tokens('overran'), null);
  await proxy.start();
  await until(() => rl.pendingCorrections === 0, 15_000, 'the pending corrections were sent');
  near(await tokens('stream'), 950, 'the refunds, summed, reached Redis');
  near(await tokens('overran'), 700, 'the charge reached Redis');
  await sleep(2500); // past the next retry ticks: nothing is sent twice
  near(await tokens('stream'), 950, 'applied once');
  near(await tokens('overran'), 700, 'applied once');
  // A later admission sees the corrected bucket.
  assert.equal((await rl.take('overran', 699, limit)).allowed, true);
  assert.equal((await rl.take('overran', 2, limit)).allowed, false);
  assert.equal(errors.length, 1, 'the outage is reported once');
});

test('a correction that timed out (it may still run in Redis): a charge is sent again, a refund never', { timeout: 30_000 }, async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const rl = new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 50 });
  t.after(() => rl.close());
  await rl.ready();
  await rl.take('refund', 900, limit);
  // A latency spike: both calls are written, time out, and Redis runs them once it resumes.
  await redis.admin.client('PAUSE', 400, 'ALL');
  await assert.rejects(rl.adjust('refund', -500, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  await assert.rejects(rl.adjust('charge', 150, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  assert.equal(rl.pendingCorrections, 1, 'only the charge is kept for another try');
  await until(() => rl.pendingCorrections === 0, 15_000, 'the charge was sent again');
  await sleep(1500);
  near(await tokens('refund'), 600, 'the refund ran once, when Redis caught up, and was not sent again');
  near(await tokens('charge'), 700, 'the charge ran late and was sent again: counted twice, the safe direction');
});

test('the pending queue is bounded: a full queue gives up refunds for new charges, then drops, and says so once', { timeout: 30_000 }, async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const errors: unknown[] = [];
  const { rl, proxy, proxyUrl } = await limiterBehindProxy(t, { maxPendingCorrections: 3, onStoreError: (e) => errors.push(e) });
  for (const k of ['a', 'b', 'f']) await rl.take(k, 500, limit);
  await outage(proxy, rl);
  const correct = (key: string, cost: number) => assert.rejects(rl.adjust(key, cost, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  await correct('a', -100);
  await correct('b', -100);
  await correct('c', 100); // full now
  assert.equal(errors.length, 1);
  await correct('d', 100); // evicts a's refund, the oldest
  await correct('e', 100); // evicts b's
  await correct('f', -100); // a refund: dropped
  await correct('g', 100); // nothing left to give up: dropped
  await correct('c', 50); // c is pending already: summed, nothing lost
  assert.equal(rl.pendingCorrections, 3);
  assert.equal(errors.length, 2, 'the losses are reported once, after the outage itself');
  assert.equal((errors[1] as { code?: string }).code, 'WARDEN_GATEWAY_RATE_LIMIT_CORRECTIONS_DROPPED');
  assert.ok(!String((errors[1] as Error).message).includes(String(proxy.port)) && !String((errors[1] as Error).message).includes(proxyUrl), 'no Redis address in the report');
  await proxy.start();
  await until(() => rl.pendingCorrections === 0, 15_000, 'the pending corrections were sent');
  for (const k of ['a', 'b', 'f']) near(await tokens(k), 500, `${k}: its refund was given up`);
  near(await tokens('c'), 850, 'c: both charges');
  near(await tokens('d'), 900, 'd');
  near(await tokens('e'), 900, 'e');
  assert.equal(await tokens('g'), null, 'g: dropped');
});

test('a bucket Redis refuses for good (a key of another type) is given up alone; the other corrections of its call still apply', { timeout: 30_000 }, async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const { rl, proxy } = await limiterBehindProxy(t);
  await outage(proxy, rl);
  await assert.rejects(rl.adjust('poison', 100, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  await assert.rejects(rl.adjust('good', 100, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  assert.equal(rl.pendingCorrections, 2);
  await redis.admin.set(prefix + 'poison', 'not a bucket'); // the script fails on it: WRONGTYPE
  await proxy.start();
  await until(() => rl.pendingCorrections === 0, 15_000, 'the pending corrections were sent');
  near(await tokens('good'), 900, 'sent in the same call as the bad bucket, then alone');
  await sleep(2500);
  assert.equal(rl.pendingCorrections, 0, 'the bad bucket is not retried forever');
  assert.equal(await redis.admin.get(prefix + 'poison'), 'not a bucket');
});

test('onStoreDown memory: corrections still go to the per-replica fallback; charges are also kept for Redis, refunds are not', { timeout: 30_000 }, async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const { rl, proxy } = await limiterBehindProxy(t, { onStoreDown: 'memory' });
  await rl.take('mem-refund', 900, limit);
  await outage(proxy, rl);
  await rl.adjust('mem-refund', -800, limit);
  await rl.adjust('mem-charge', 300, limit);
  assert.equal(rl.pendingCorrections, 1, 'only the charge waits for Redis');
  assert.equal((await rl.take('mem-charge', 701, limit)).allowed, false, 'the fallback holds the charge meanwhile');
  assert.equal((await rl.take('mem-charge', 700, limit)).allowed, true);
  await proxy.start();
  await until(() => rl.pendingCorrections === 0, 15_000, 'the charge was sent');
  near(await tokens('mem-refund'), 100, 'the refund did not reach Redis (its admission may have been charged to the fallback)');
  near(await tokens('mem-charge'), 700, 'the charge reached Redis');
});

test('close() sends the pending corrections once more before disconnecting', { timeout: 30_000 }, async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const { rl, proxy } = await limiterBehindProxy(t);
  await rl.take('closing', 900, limit);
  await outage(proxy, rl);
  await assert.rejects(rl.adjust('closing', 50, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  await sleep(1200); // the first retry (1 s) fails: the next is 2 s later
  await proxy.start();
  const client = (rl as unknown as { redis: Redis }).redis;
  await until(() => client.status === 'ready', 5000, 'the client reconnected');
  assert.equal(rl.pendingCorrections, 1, 'no retry ran yet');
  await rl.close();
  near(await tokens('closing'), 50, 'close() sent it');
});

test('through the gateway: a stream admitted before an outage and ending during it is charged its real usage once Redis is back', { timeout: 30_000 }, async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const { proxy, proxyUrl } = await redisProxy(t);
  let finish: (() => void) | null = null;
  const meta = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const upstream = await mockUpstream((_body, _req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ ...meta, choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })}\n\n`);
    finish = () => {
      res.write(`data: ${JSON.stringify({ ...meta, choices: [], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } })}\n\n`);
      res.end('data: [DONE]\n\n');
    };
  });
  t.after(() => upstream.close());
  const rl = createRateLimitPolicy({
    backend: 'redis',
    redisUrl: proxyUrl,
    redisKeyPrefix: `${prefix}gw:`,
    onStoreDown: 'fail-closed',
    redisTimeoutMs: 2000,
    maxKeys: 1000,
    concurrencyLeaseSeconds: 900,
    completionReserveTokens: 1024,
    maxCompletionReserveTokens: 32_768,
    rules: [{ match: { key: '*' }, tokensPerMinute: 1, tokensBurst: 100_000 }],
  });
  t.after(() => rl.close());
  await rl.ready();
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], timeoutMs: 10_000 })], rateLimit: rl.policy });
  t.after(() => gw.close(0));
  const r = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream: true, max_tokens: 4000, messages: [{ role: 'user', content: 'hello' }] }),
  });
  assert.equal(r.statusCode, 200);
  const answer = r.body.text();
  await until(() => finish !== null, 5000, 'the upstream is streaming');
  const [bucket] = await redis.admin.keys(`${prefix}gw:*|t`);
  const level = async () => Number(await redis.admin.hget(bucket!, 't'));
  const admitted = await level();
  assert.ok(admitted < 96_000, `admission charged the prompt and 4000 reserved tokens, left ${admitted}`);
  const limiter = rl.limiter as RedisRateLimiter;
  await outage(proxy, limiter);
  finish!();
  assert.match(await answer, /\[DONE\]/);
  await until(() => limiter.pendingCorrections === 1, 5000, 'the correction is kept');
  near(await level(), admitted, 'the correction could not reach Redis');
  await proxy.start();
  await until(() => limiter.pendingCorrections === 0, 15_000, 'the correction was sent');
  near(await level(), 100_000 - 30, 'the bucket holds the real usage: the unused reservation is refunded');
});

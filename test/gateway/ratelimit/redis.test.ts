import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { requireOrSkip } from '../../helpers/ci.js';
import { testRedis } from '../../helpers/testRedis.js';
import { RedisRateLimiter, RateLimitPolicy, RateLimitedError, TOKEN_BUCKET_LUA } from '../../../src/gateway/ratelimit/index.js';
import { createHash } from 'node:crypto';

const redis = testRedis();
const { url, prefix } = redis;

test('Redis token bucket: burst, retry-after, remaining; EVALSHA; keys expire once full again', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const rl = new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 1000 });
  try {
    await rl.ready();
    const limit = { ratePerMinute: 60, burst: 3 };
    assert.deepEqual(await rl.take('a', 1, limit), { allowed: true, retryAfterMs: 0, remaining: 2 });
    await rl.take('a', 1, limit);
    await rl.take('a', 1, limit);
    const denied = await rl.take('a', 1, limit);
    assert.equal(denied.allowed, false);
    assert.ok(denied.retryAfterMs > 900 && denied.retryAfterMs <= 1000, String(denied.retryAfterMs));
    const sha = createHash('sha1').update(TOKEN_BUCKET_LUA).digest('hex');
    assert.deepEqual(await redis.admin.script('EXISTS', sha), [1]);
    const pttl = await redis.admin.pttl(`${prefix}a`);
    assert.ok(pttl > 2000 && pttl <= 4000, `TTL ≈ time to refill (3 s) + 1 s, got ${pttl}`);
    // All-or-nothing across buckets.
    const big = { key: 'b', cost: 1, limit: { ratePerMinute: 60, burst: 10 } };
    const empty = { key: 'a', cost: 1, limit };
    assert.equal((await rl.takeMany([big, empty])).allowed, false);
    assert.equal((await rl.take('b', 10, big.limit)).allowed, true, 'nothing was taken from b by the denied call');
    // Corrections: debt then refund.
    await rl.adjust('c', 50, { ratePerMinute: 60, burst: 10 });
    assert.equal((await rl.take('c', 1, { ratePerMinute: 60, burst: 10 })).allowed, false);
    await rl.adjust('c', -100, { ratePerMinute: 60, burst: 10 });
    assert.equal((await rl.take('c', 10, { ratePerMinute: 60, burst: 10 })).allowed, true);
  } finally {
    await rl.close();
  }
});

test('Redis down: fail closed with WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE (default) or per-replica memory fallback', async () => {
  const errors: unknown[] = [];
  const closed = new RedisRateLimiter({ redis: 'redis://127.0.0.1:1', timeoutMs: 200, onStoreError: (e) => errors.push(e) });
  const fallback = new RedisRateLimiter({ redis: 'redis://127.0.0.1:1', timeoutMs: 200, onStoreDown: 'memory' });
  try {
    const limit = { ratePerMinute: 60, burst: 1 };
    await assert.rejects(closed.take('k', 1, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE', status: 503 });
    await assert.rejects(closed.take('k', 1, limit), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
    assert.equal(errors.length, 1, 'the outage is reported once, not per request');
    assert.equal((await fallback.take('k', 1, limit)).allowed, true);
    assert.equal((await fallback.take('k', 1, limit)).allowed, false, 'the memory fallback still limits');
    // Through the policy: a fail-closed store error propagates and leaks no concurrency slot.
    const policy = new RateLimitPolicy([{ match: { principal: '*' }, requestsPerMinute: 60, concurrent: 1 }], { limiter: closed });
    const subject = { principal: 'User::"a"', key: null, tenant: null, model: 'm', estimatedTokens: 0 };
    await assert.rejects(Promise.resolve(policy.check(subject)), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
    await assert.rejects(Promise.resolve(policy.check(subject)), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
    // Shared concurrency slots: fail closed, or this replica's own counters with the memory fallback.
    const sharedClosed = new RateLimitPolicy([{ match: { principal: '*' }, concurrent: 1 }], { limiter: closed, concurrency: closed.slots(60_000) });
    await assert.rejects(Promise.resolve(sharedClosed.check(subject)), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
    const sharedLocal = new RateLimitPolicy([{ match: { principal: '*' }, concurrent: 1 }], { limiter: fallback, concurrency: fallback.slots(60_000) });
    const held = await sharedLocal.check(subject);
    await assert.rejects(Promise.resolve(sharedLocal.check(subject)), { code: 'WARDEN_GATEWAY_CONCURRENCY_LIMITED' });
    held.release();
    (await sharedLocal.check(subject)).release();
  } finally {
    await closed.close();
    await fallback.close();
  }
});

test('policy over Redis: 429 with retry-after seconds', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const rl = new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 1000 });
  try {
    await rl.ready();
    const policy = new RateLimitPolicy([{ match: { tenant: '*' }, requestsPerMinute: 6, burst: 2 }], { limiter: rl });
    const s = { principal: 'User::"a"', key: null, tenant: `t-${randomUUID()}`, model: 'm', estimatedTokens: 0 };
    (await policy.check(s)).release();
    (await policy.check(s)).release();
    const err = await Promise.resolve(policy.check(s)).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof RateLimitedError);
    assert.equal(err.status, 429);
    assert.ok(err.retryAfterSeconds === 10 || err.retryAfterSeconds === 9, String(err.retryAfterSeconds));
  } finally {
    await rl.close();
  }
});

test('concurrency over Redis is shared by replicas: all or nothing, released by lease, and the slots of a dead replica expire', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const rules = [{ match: { principal: '*' }, concurrent: 2 }, { match: { model: '*' }, concurrent: 3 }];
  const replicas = [0, 1].map(() => new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 1000 }));
  try {
    await Promise.all(replicas.map((r) => r.ready()));
    const [a, b] = replicas.map((r) => new RateLimitPolicy(rules, { limiter: r, concurrency: r.slots(60_000) }));
    const alice = { principal: 'User::"alice"', key: null, tenant: null, model: 'm', estimatedTokens: 0 };
    const bob = { ...alice, principal: 'User::"bob"' };
    const g1 = await a!.check(alice);
    const g2 = await b!.check(alice);
    await assert.rejects(Promise.resolve(a!.check(alice)), { code: 'WARDEN_GATEWAY_CONCURRENCY_LIMITED', message: /more than 2 concurrent requests \(rule 0\)/ });
    await assert.rejects(Promise.resolve(b!.check(alice)), { code: 'WARDEN_GATEWAY_CONCURRENCY_LIMITED' }, 'the other replica sees the same two slots');
    // The model rule (3) has room for one more: bob gets it; a denied alice took none of it (all or nothing).
    const g3 = await b!.check(bob);
    await assert.rejects(Promise.resolve(a!.check(bob)), { code: 'WARDEN_GATEWAY_CONCURRENCY_LIMITED', message: /rule 1/ });
    g1.release();
    await new Promise((r) => setTimeout(r, 50)); // the release is sent without waiting
    const g4 = await a!.check(bob); // alice's released slot is free on every replica
    for (const g of [g2, g3, g4]) g.release();
    await new Promise((r) => setTimeout(r, 50));
    const held = await redis.admin.keys(`${prefix}*|c`);
    for (const k of held) assert.equal(await redis.admin.zcard(k), 0, `${k} holds no lease after every release`);

    // A replica that dies holding a slot (it stops renewing its lease): the lease frees it after
    // leaseMs, also while a live holder keeps the bucket itself from expiring.
    const dying = new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 1000 });
    await dying.ready();
    const rule = [{ match: { principal: '*' }, concurrent: 2 }];
    const crashed = { ...alice, principal: 'User::"crashed"' };
    await new RateLimitPolicy(rule, { limiter: dying, concurrency: dying.slots(1000) }).check(crashed); // never released
    await dying.close();
    const short = new RateLimitPolicy(rule, { limiter: replicas[0]!, concurrency: replicas[0]!.slots(1000) });
    await new Promise((r) => setTimeout(r, 300));
    const live = await short.check(crashed); // held on; refreshes the bucket's expiry
    await assert.rejects(Promise.resolve(short.check(crashed)), { code: 'WARDEN_GATEWAY_CONCURRENCY_LIMITED' });
    await new Promise((r) => setTimeout(r, 800)); // the first lease is now past its 1000 ms
    (await short.check(crashed)).release();
    live.release();
  } finally {
    await Promise.all(replicas.map((r) => r.close()));
  }
});

test('a concurrency call that times out while Redis stalls leaves no slot taken once Redis catches up', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const limiter = new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 50 });
  try {
    await limiter.ready();
    const policy = new RateLimitPolicy([{ match: { principal: '*' }, concurrent: 2 }], { limiter, concurrency: limiter.slots(900_000) });
    const stalled = { principal: 'User::"stalled"', key: null, tenant: null, model: 'm', estimatedTokens: 0 };
    await redis.admin.client('PAUSE', 300, 'ALL'); // a latency spike: the calls time out, Redis runs them later
    for (let i = 0; i < 2; i++) await assert.rejects(Promise.resolve(policy.check(stalled)), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
    await new Promise((r) => setTimeout(r, 600));
    const [key] = await redis.admin.keys(`${prefix}*stalled*|c`);
    if (key) assert.equal(await redis.admin.zcard(key), 0, 'the late calls took slots that nobody holds');
    const g1 = await policy.check(stalled);
    const g2 = await policy.check(stalled);
    g1.release();
    g2.release();
  } finally {
    await limiter.close();
  }
});

test('a lease release that fails while the connection is down is retried once Redis is back (the slot is not held for the lease time)', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const limiter = new RedisRateLimiter({ redis: url, keyPrefix: prefix, timeoutMs: 200 });
  try {
    await limiter.ready();
    const policy = new RateLimitPolicy([{ match: { principal: '*' }, concurrent: 1 }], { limiter, concurrency: limiter.slots(900_000) });
    const who = { principal: 'User::"blip"', key: null, tenant: null, model: 'm', estimatedTokens: 0 };
    const grant = await policy.check(who);
    // The connection drops just as the request ends: the release cannot be written (ioredis
    // resolves the pipeline with per-command errors instead of rejecting it).
    (limiter as unknown as { redis: Redis }).redis.disconnect(true);
    grant.release();
    const [key] = await redis.admin.keys(`${prefix}*blip*|c`);
    assert.equal(await redis.admin.zcard(key!), 1, 'the release did not reach Redis');
    for (let i = 0; i < 100 && (await redis.admin.zcard(key!)) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await redis.admin.zcard(key!), 0, 'the retried release freed the slot');
    (await policy.check(who)).release();
  } finally {
    await limiter.close();
  }
});

test('3 replicas (separate processes and clients) sharing Redis: allowed count within ±2% of rate × time + burst', async (t) => {
  if (!requireOrSkip(t, redis.up, 'Redis')) return;
  const specs = [
    // Burst 600 (0.6 s of traffic): a scheduler stall on a busy CI machine shorter than that loses no tokens.
    { key: `acc-fast-${randomUUID()}`, ratePerMinute: 60_000, burst: 600 },
    { key: `acc-600-${randomUUID()}`, ratePerMinute: 600, burst: 10 },
  ];
  const fixture = join(import.meta.dirname, 'replica.fixture.ts');
  const children = Array.from({ length: 3 }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, url, JSON.stringify(specs.map((s) => ({ ...s, key: prefix + s.key }))), '4'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c;
        if (out.startsWith('ready\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`replica exited ${code} before ready: ${err}`)));
    });
    const done = new Promise<{ allowed: number; denied: number; first: number; last: number }[]>((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length)) as never) : reject(new Error(`replica exited ${code}: ${err}`)))),
    );
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  // All three start at the same instant and run for 3 s.
  const startAt = Date.now() + 100;
  for (const c of children) c.child.stdin.end(`${startAt} ${startAt + 3000}\n`);
  const runs = children.map((c) => c.done);
  const results = await Promise.all(runs);
  specs.forEach((spec, i) => {
    const per = results.map((r) => r[i]!);
    const allowed = per.reduce((n, r) => n + r.allowed, 0);
    const denied = per.reduce((n, r) => n + r.denied, 0);
    const windowMs = Math.max(...per.map((r) => r.last)) - Math.min(...per.map((r) => r.first));
    const expected = spec.burst + (spec.ratePerMinute / 60_000) * windowMs;
    // ±2%, but never below 1.5 requests: a count is an integer and the window edges are measured client-side.
    const tolerance = Math.max(1.5, expected * 0.02);
    t.diagnostic(`${spec.ratePerMinute}/min: allowed ${allowed} (${per.map((r) => r.allowed).join('+')}), denied ${denied}, expected ${expected.toFixed(1)} ± ${tolerance.toFixed(1)} over ${windowMs} ms`);
    assert.ok(per.every((r) => r.allowed > 0), 'every replica got a share');
    // The limit must have been binding (otherwise the count says nothing about the limiter). Not
    // "denied > allowed": on a loaded 2-core machine the clients offer less, and a load that
    // dropped below the limit would show up as too few allowed in the check below anyway.
    assert.ok(denied > allowed / 4, 'offered load exceeded the limit');
    assert.ok(Math.abs(allowed - expected) <= tolerance, `allowed ${allowed}, expected ${expected.toFixed(1)} ± ${tolerance.toFixed(1)}`);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRateLimiter, ConcurrencyLimiter, RateLimitPolicy, RateLimitedError, estimatePromptTokens, type RateLimitSubject } from '../../../src/gateway/ratelimit/index.js';

const limit = { ratePerMinute: 60, burst: 3 }; // 1 token per second

test('token bucket: burst, refill at the configured rate, retry-after, no partial refill beyond burst', () => {
  let now = 1_000_000;
  const rl = new MemoryRateLimiter({ now: () => now });
  for (let i = 0; i < 3; i++) assert.equal(rl.take('k', 1, limit).allowed, true);
  const denied = rl.take('k', 1, limit);
  assert.deepEqual(denied, { allowed: false, retryAfterMs: 1000, remaining: 0 });
  now += 500;
  assert.equal(rl.take('k', 1, limit).retryAfterMs, 500);
  now += 500;
  assert.deepEqual(rl.take('k', 1, limit), { allowed: true, retryAfterMs: 0, remaining: 0 });
  now += 3_600_000; // long idle: refills to burst, not more
  assert.equal(rl.take('k', 1, limit).remaining, 2);
  // Other keys are independent.
  assert.equal(rl.take('other', 3, limit).allowed, true);
  assert.equal(rl.take('other', 1, limit).allowed, false);
});

test('long-run rate is exact: 10 simulated minutes at 60/min allow 600 + burst', () => {
  let now = 0;
  const rl = new MemoryRateLimiter({ now: () => now });
  let allowed = 0;
  // Ends 4 ms after the 600th refill so float rounding cannot move the boundary.
  for (now = 0; now <= 600_004; now += 4) if (rl.take('k', 1, limit).allowed) allowed++;
  assert.equal(allowed, 600 + 3);
});

test('cost above burst: allowed from a full bucket, leaves debt; takeMany is all-or-nothing', () => {
  let now = 0;
  const rl = new MemoryRateLimiter({ now: () => now });
  const tokens = { ratePerMinute: 600, burst: 100 }; // 10 tokens/s
  assert.equal(rl.take('t', 250, tokens).allowed, true); // debt of 150
  const r = rl.take('t', 10, tokens);
  assert.equal(r.allowed, false);
  assert.equal(r.retryAfterMs, 16_000); // (10 - (-150)) / 10 per s
  now += 16_000;
  assert.equal(rl.take('t', 10, tokens).allowed, true);

  const a = { key: 'a', cost: 1, limit: { ratePerMinute: 60, burst: 5 } };
  const b = { key: 'b', cost: 1, limit: { ratePerMinute: 60, burst: 1 } };
  assert.equal(rl.takeMany([a, b]).allowed, true);
  const denied = rl.takeMany([a, b]);
  assert.equal(denied.allowed, false);
  assert.equal(rl.take('a', 4, a.limit).allowed, true, 'the denied takeMany consumed nothing from a');
});

test('usage correction: adjust charges extra or refunds up to the burst', () => {
  const rl = new MemoryRateLimiter({ now: () => 0 });
  const l = { ratePerMinute: 60, burst: 10 };
  rl.take('k', 5, l);
  rl.adjust('k', 20, l); // actual usage 20 more than estimated → -15
  assert.equal(rl.take('k', 1, l).allowed, false);
  rl.adjust('k', -1000, l); // refund, capped
  assert.equal(rl.take('k', 10, l).remaining, 0);
});

test('key table is bounded: least recently used buckets are evicted', () => {
  const rl = new MemoryRateLimiter({ maxKeys: 100, now: () => 0 });
  for (let i = 0; i < 10_000; i++) rl.take(`k${i}`, 1, limit);
  assert.equal(rl.size, 100);
  rl.take('hot', 3, limit);
  for (let i = 0; i < 99; i++) rl.take(`x${i}`, 1, limit);
  rl.take('hot', 0, limit); // touch: most recent again
  for (let i = 0; i < 50; i++) rl.take(`y${i}`, 1, limit);
  assert.equal(rl.take('hot', 1, limit).allowed, false, 'a recently used bucket survives eviction');
});

test('eviction passes over buckets in debt, takes full ones first, and refused requests create no bucket', () => {
  let now = 0;
  const rl = new MemoryRateLimiter({ maxKeys: 10, now: () => now });
  const l = { ratePerMinute: 60, burst: 5 };
  assert.equal(rl.take('debtor', 50, l).allowed, true, 'a cost above the burst is allowed from a full bucket');
  // Others' traffic over many distinct keys (each drained, so none is full again) would evict
  // the debtor's bucket, which would come back full.
  for (let i = 0; i < 200; i++) rl.take(`other${i}`, 5, l);
  assert.equal(rl.size, 10);
  assert.equal(rl.take('debtor', 1, l).allowed, false, 'the debt survives the churn');
  // A refused request over an empty and a new bucket (all or nothing) adds no bucket.
  const sizeBefore = rl.size;
  const refused = rl.takeMany([{ key: 'debtor', cost: 1, limit: l }, { key: 'brand-new', cost: 1, limit: l }]);
  assert.equal(refused.allowed, false);
  assert.equal(rl.size, sizeBefore);
  // 10 s later the others are full again and go first; the debtor still owes 35 tokens.
  now += 10_000;
  for (let i = 0; i < 20; i++) rl.take(`later${i}`, 1, l);
  assert.equal(rl.take('debtor', 1, l).allowed, false, 'still in debt');
});

test('concurrency limiter: acquire/release per key, table holds only active keys', () => {
  const c = new ConcurrencyLimiter();
  assert.equal(c.tryAcquire('a', 2), true);
  assert.equal(c.tryAcquire('a', 2), true);
  assert.equal(c.tryAcquire('a', 2), false);
  c.releaseOne('a');
  assert.equal(c.tryAcquire('a', 2), true);
  c.releaseOne('a');
  c.releaseOne('a');
  c.releaseOne('a'); // extra releases are harmless
  assert.equal(c.size, 0);
});

function subject(o: Partial<RateLimitSubject> = {}): RateLimitSubject {
  return { principal: 'User::"alice"', key: null, tenant: 'acme', model: 'gpt-4o', estimatedTokens: 0, ...o };
}

test('policy: per-principal, per-tenant, per-model rules; 429 with retry-after; matching semantics', async () => {
  let now = 0;
  const policy = new RateLimitPolicy(
    [
      { match: { principal: '*' }, requestsPerMinute: 60, burst: 2 },
      { match: { tenant: 'acme', model: 'gpt-*' }, requestsPerMinute: 60, burst: 3 },
      { match: { key: '*' }, requestsPerMinute: 6, burst: 1 },
    ],
    { limiter: new MemoryRateLimiter({ now: () => now }) },
  );
  (policy.check(subject()) as { release(): void }).release();
  policy.check(subject());
  const err = (() => {
    try {
      policy.check(subject());
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(err instanceof RateLimitedError);
  assert.equal(err.code, 'WARDEN_GATEWAY_RATE_LIMITED');
  assert.equal(err.status, 429);
  assert.equal(err.retryAfterSeconds, 1);
  // bob has his own principal bucket but shares acme's gpt-* bucket (1 left).
  policy.check(subject({ principal: 'User::"bob"' }));
  assert.throws(() => policy.check(subject({ principal: 'User::"bob"' })), { code: 'WARDEN_GATEWAY_RATE_LIMITED' });
  // Another model is outside rule 1; another tenant too.
  policy.check(subject({ principal: 'User::"bob"', model: 'llama' }));
  policy.check(subject({ principal: 'User::"carol"', tenant: 'other' }));
  // No tenant: the tenant rule does not apply.
  policy.check(subject({ principal: 'User::"dave"', tenant: null }));
  // The key rule applies only to API-key requests.
  policy.check(subject({ principal: 'User::"erin"', tenant: null, key: 'key_1' }));
  assert.throws(() => policy.check(subject({ principal: 'User::"erin"', tenant: null, key: 'key_1' })), (e: unknown) => e instanceof RateLimitedError && e.retryAfterSeconds === 10);
  now += 10_000;
  policy.check(subject({ principal: 'User::"erin"', tenant: null, key: 'key_1' }));
});

test('policy: concurrency slots are held until release, also released on a rate-limit denial', () => {
  const now = 0;
  const concurrency = new ConcurrencyLimiter();
  const policy = new RateLimitPolicy([{ match: { principal: '*' }, concurrent: 2 }, { match: { model: '*' }, requestsPerMinute: 60, burst: 3 }], { limiter: new MemoryRateLimiter({ now: () => now }), concurrency });
  const g1 = policy.check(subject()) as { release(): void };
  const g2 = policy.check(subject()) as { release(): void };
  assert.throws(() => policy.check(subject()), (e: unknown) => e instanceof RateLimitedError && e.code === 'WARDEN_GATEWAY_CONCURRENCY_LIMITED' && e.status === 429);
  g1.release();
  g1.release(); // idempotent
  const g3 = policy.check(subject()) as { release(): void };
  g2.release();
  g3.release();
  assert.equal(concurrency.size, 0);
  // model bucket now empty (3 used): the denial must not leak a concurrency slot.
  assert.throws(() => policy.check(subject()), { code: 'WARDEN_GATEWAY_RATE_LIMITED' });
  assert.equal(concurrency.size, 0);
});

test('policy: tokens/min charged with the estimate, corrected with upstream usage', () => {
  let now = 0;
  const policy = new RateLimitPolicy([{ match: { tenant: '*' }, tokensPerMinute: 6000, tokensBurst: 1000 }], { limiter: new MemoryRateLimiter({ now: () => now }) });
  const body = { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2000) }] };
  const estimated = estimatePromptTokens(body);
  assert.equal(estimated, 504);
  const g = policy.check(subject({ estimatedTokens: estimated })) as Parameters<typeof policy.correctTokens>[0];
  policy.correctTokens(g, { prompt_tokens: 480, completion_tokens: 500, total_tokens: 980 }); // 476 more
  // 1000 - 980 = 20 left: a 504-token request waits (504-20)/100 per s ≈ 4.84 s → 5 s.
  assert.throws(() => policy.check(subject({ estimatedTokens: estimated })), (e: unknown) => e instanceof RateLimitedError && e.retryAfterSeconds === 5);
  now += 5000;
  const g2 = policy.check(subject({ estimatedTokens: estimated })) as Parameters<typeof policy.correctTokens>[0];
  policy.correctTokens(g2, { total_tokens: 4 }); // far less used than estimated → refund
  assert.equal(g2.result.allowed, true);
  policy.check(subject({ estimatedTokens: 500 }));
  // Requests without a token estimate (GET) skip token buckets.
  policy.check(subject({ estimatedTokens: 0 }));
});

test('estimatePromptTokens covers chat content parts, tool definitions and calls, completions prompts and embedding inputs', () => {
  assert.equal(estimatePromptTokens(null), 0);
  assert.equal(estimatePromptTokens({ messages: [{ role: 'user', content: [{ type: 'text', text: 'abcdefgh' }, { type: 'image_url', image_url: { url: 'data:…' } }] }] }), 4 + 2 + 85);
  const tools = [{ type: 'function', function: { name: 'f', description: 'd'.repeat(4000) } }];
  assert.equal(estimatePromptTokens({ messages: [], tools }), Math.ceil(JSON.stringify(tools).length / 4));
  assert.equal(estimatePromptTokens({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: 'a'.repeat(400) } }] }] }), 4 + 100);
  assert.equal(estimatePromptTokens({ prompt: 'abcd'.repeat(10) }), 10);
  assert.equal(estimatePromptTokens({ prompt: [[1, 2, 3], [4]] }), 4);
  assert.equal(estimatePromptTokens({ input: ['abcd', 'abcdefgh', 7] }), 1 + 2 + 1);
});

test('invalid rule is refused with the rule index', () => {
  assert.throws(() => new RateLimitPolicy([{ match: {} }], { limiter: new MemoryRateLimiter() }), { code: 'WARDEN_CONFIG_INVALID', message: /rules\[0\]/ });
});

// Rate-limit micro-benchmark: MemoryRateLimiter and RateLimitPolicy against a bare Map update
// (baseline), and RedisRateLimiter (one EVALSHA) against a Redis PING on the same connection
// (baseline: the round trip every Redis call pays). 127.0.0.1 only; ~1 s per row.
import { Redis } from 'ioredis';
import { MemoryRateLimiter, RateLimitPolicy, RedisRateLimiter } from '../src/gateway/ratelimit/index.js';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 1000);
const redisUrl = process.env.WARDEN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

type Row = { name: string; opsPerSec: number; nsPerOp: number; group: number };
const rows: Row[] = [];

function measureSync(name: string, group: number, fn: (i: number) => void): void {
  for (let i = 0; i < 100_000; i++) fn(i);
  let ops = 0;
  const start = process.hrtime.bigint();
  const stop = Date.now() + durationMs;
  while (Date.now() < stop) {
    for (let i = 0; i < 1000; i++) fn(ops + i);
    ops += 1000;
  }
  const ns = Number(process.hrtime.bigint() - start);
  rows.push({ name, group, opsPerSec: (ops / ns) * 1e9, nsPerOp: ns / ops });
}

async function measureAsync(name: string, group: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 500; i++) await fn(i);
  let ops = 0;
  const start = process.hrtime.bigint();
  const stop = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < stop) await fn(ops++);
    }),
  );
  const ns = Number(process.hrtime.bigint() - start);
  rows.push({ name, group, opsPerSec: (ops / ns) * 1e9, nsPerOp: ns / ops });
}

const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
const limit = { ratePerMinute: 1e9, burst: 1e9 };
const map = new Map<string, { tokens: number; at: number }>();
measureSync('memory: Map get + update (baseline)', 0, (i) => {
  const k = keys[i % 1000]!;
  const b = map.get(k);
  if (b) b.tokens -= 1;
  else map.set(k, { tokens: 10, at: 0 });
});
const mem = new MemoryRateLimiter();
measureSync('memory: MemoryRateLimiter.take', 0, (i) => mem.take(keys[i % 1000]!, 1, limit));
const policy = new RateLimitPolicy(
  [
    { match: { principal: '*' }, requestsPerMinute: 1e9 },
    { match: { tenant: '*' }, tokensPerMinute: 1e12 },
    { match: { model: '*' }, requestsPerMinute: 1e9, concurrent: 1e6 },
  ],
  { limiter: new MemoryRateLimiter() },
);
measureSync('memory: RateLimitPolicy.check + release (3 rules)', 0, (i) => {
  const g = policy.check({ principal: keys[i % 1000]!, key: null, tenant: 'acme', model: 'gpt-4o', estimatedTokens: 100 });
  (g as { release(): void }).release();
});

const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
probe.on('error', () => {});
let haveRedis = false;
try {
  await probe.connect();
  haveRedis = true;
} catch {
  console.log(`(Redis at ${redisUrl} not reachable: Redis rows skipped)`);
}
if (haveRedis) {
  const rl = new RedisRateLimiter({ redis: probe, keyPrefix: `warden:bench:${process.pid}:`, timeoutMs: 1000 });
  await measureAsync('redis, 1 in flight: PING (baseline)', 1, 1, () => probe.ping());
  await measureAsync('redis, 1 in flight: RedisRateLimiter.take (EVALSHA)', 1, 1, (i) => rl.take(keys[i % 1000]!, 1, limit));
  await measureAsync('redis, 32 in flight: PING (baseline)', 2, 32, () => probe.ping());
  await measureAsync('redis, 32 in flight: RedisRateLimiter.take (EVALSHA)', 2, 32, (i) => rl.take(keys[i % 1000]!, 1, limit));
  const stale = await probe.keys(`warden:bench:${process.pid}:*`);
  if (stale.length) await probe.del(...stale);
  probe.disconnect();
}

console.log(`ratelimit micro-benchmark (${new Date().toISOString()}, node ${process.version}, ${durationMs} ms per row)`);
console.log('| case | ops/s | ns/op | × baseline time |');
console.log('|---|---:|---:|---:|');
for (const r of rows) {
  const base = rows.find((x) => x.group === r.group)!;
  console.log(`| ${r.name} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.nsPerOp.toFixed(0)} | ${(r.nsPerOp / base.nsPerOp).toFixed(2)} |`);
}

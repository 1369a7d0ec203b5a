// One "gateway replica" for the accuracy test: its own process and ioredis client, driving
// RedisRateLimiter as fast as it can between startAt and endAt (epoch ms), then printing counts.
// Handshake: prints "ready" once connected, then reads "startAt endAt" from stdin.
import { createInterface } from 'node:readline';
import { RedisRateLimiter } from '../../../src/gateway/ratelimit/index.js';

const [url, specJson, loops] = process.argv.slice(2) as [string, string, string];
const specs = JSON.parse(specJson) as { key: string; ratePerMinute: number; burst: number }[];
const limiter = new RedisRateLimiter({ redis: url, timeoutMs: 2000 });
await limiter.ready();
process.stdout.write('ready\n');
const line = await new Promise<string>((r) => createInterface({ input: process.stdin }).once('line', r));
const [startAt, endAt] = line.split(' ') as [string, string];
const counts = specs.map(() => ({ allowed: 0, denied: 0, first: Infinity, last: 0 }));
await new Promise((r) => setTimeout(r, Number(startAt) - Date.now()));
await Promise.all(
  specs.flatMap((spec, i) =>
    Array.from({ length: Number(loops) }, async () => {
      const c = counts[i]!;
      const limit = { ratePerMinute: spec.ratePerMinute, burst: spec.burst };
      while (Date.now() < Number(endAt)) {
        const t = Date.now();
        const r = await limiter.take(spec.key, 1, limit);
        if (r.allowed) c.allowed++;
        else c.denied++;
        if (t < c.first) c.first = t;
        c.last = Date.now();
      }
    }),
  ),
);
await limiter.close();
process.stdout.write(JSON.stringify(counts) + '\n');

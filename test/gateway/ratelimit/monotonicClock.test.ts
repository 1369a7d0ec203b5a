import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRateLimiter } from '../../../src/gateway/ratelimit/index.js';

// The memory limiter refills from a monotonic clock: a wall clock stepped back (NTP, VM resume)
// would freeze every bucket until it caught up, while 429s keep promising a short retry-after.
test('memory buckets keep refilling when the wall clock steps back an hour', async () => {
  let wall = Date.now();
  const clock = mock.method(Date, 'now', () => wall);
  try {
    const rl = new MemoryRateLimiter();
    const limit = { ratePerMinute: 600_000, burst: 1 }; // one token per 0.1 ms
    assert.equal(rl.take('k', 1, limit).allowed, true);
    wall -= 3_600_000;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(rl.take('k', 1, limit).allowed, true, 'refilled although Date.now() went back an hour');
  } finally {
    clock.mock.restore();
  }
});

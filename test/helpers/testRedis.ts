import { before, after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis a test file uses: WARDEN_TEST_REDIS_URL (default local), its keys under a fresh prefix. */
export interface TestRedis {
  readonly url: string;
  readonly prefix: string;
  /** False when no Redis answered: tests then skip locally and fail under CI=true (requireOrSkip). */
  readonly up: boolean;
  /** A direct client for assertions on keys, TTLs and scripts. */
  readonly admin: Redis;
}

/** Connects once before the file's tests and deletes every key under the prefix after them. */
export function testRedis(): TestRedis {
  const state = {
    url: process.env.WARDEN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    prefix: `warden:test:${randomUUID()}:`,
    up: false,
    admin: null as unknown as Redis,
  };
  before(async () => {
    state.admin = new Redis(state.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
    state.admin.on('error', () => {});
    try {
      await state.admin.connect();
      await state.admin.ping();
      state.up = true;
    } catch {
      state.up = false;
    }
  });
  after(async () => {
    if (state.up) {
      const keys = await state.admin.keys(`${state.prefix}*`);
      if (keys.length) await state.admin.del(...keys);
    }
    state.admin.disconnect();
  });
  return state;
}

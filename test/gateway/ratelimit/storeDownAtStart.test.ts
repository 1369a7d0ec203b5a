// A gateway whose Redis is down when it starts: `onStoreDown: memory` starts on per-replica limits
// (reported once) and moves to Redis by itself once it answers; fail-closed refuses to start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { requireOrSkip } from '../../helpers/ci.js';
import { createRateLimitPolicy, type RateLimitConfig } from '../../../src/gateway/ratelimit/index.js';

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function config(port: number, onStoreDown: RateLimitConfig['onStoreDown']): RateLimitConfig {
  return {
    backend: 'redis',
    redisUrl: `redis://127.0.0.1:${port}`,
    redisKeyPrefix: 'warden:test:startdown:',
    onStoreDown,
    redisTimeoutMs: 200,
    maxKeys: 1000,
    concurrencyLeaseSeconds: 60,
    completionReserveTokens: 0,
    maxCompletionReserveTokens: 0,
    rules: [{ match: { principal: '*' }, requestsPerMinute: 60, burst: 1 }],
  };
}

const subject = (principal: string) => ({ principal, key: null, tenant: null, model: 'm', estimatedTokens: 0 });

test('Redis down at start, fail-closed: ready() rejects with WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE', { timeout: 30_000 }, async (t) => {
  const rl = createRateLimitPolicy(config(await closedPort(), 'fail-closed'));
  t.after(() => rl.close());
  await assert.rejects(rl.ready(), { code: 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE' });
});

test('Redis down at start, onStoreDown memory: starts on per-replica limits, reports once, uses Redis once it answers', { timeout: 60_000 }, async (t) => {
  const port = await closedPort();
  const errors: unknown[] = [];
  const rl = createRateLimitPolicy(config(port, 'memory'), { onStoreError: (err) => errors.push(err) });
  t.after(() => rl.close());
  await rl.ready();
  assert.equal(errors.length, 1, 'the outage at start-up is reported once');
  assert.equal((errors[0] as { code?: string }).code, 'WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE');
  // The memory fallback limits (burst 1), and the calls that fall back report nothing more.
  (await rl.policy.check(subject('User::"a"'))).release();
  await assert.rejects(Promise.resolve(rl.policy.check(subject('User::"a"'))), { code: 'WARDEN_GATEWAY_RATE_LIMITED' });
  assert.equal(errors.length, 1, 'not one report per request');

  // Redis comes up on that port: the client reconnects by itself and the limits go to Redis.
  let server: ChildProcess | null = null;
  const started = await new Promise<boolean>((resolve) => {
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    p.once('error', () => resolve(false));
    p.once('spawn', () => {
      server = p;
      resolve(true);
    });
  });
  t.after(() => {
    server?.kill('SIGTERM');
  });
  if (!requireOrSkip(t, started, 'redis-server')) return;
  const admin = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  admin.on('error', () => {});
  t.after(() => admin.disconnect());
  for (let i = 0; i < 100 && !(await admin.ping().then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
  let inRedis = 0;
  for (let i = 0; i < 100 && inRedis === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await Promise.resolve(rl.policy.check(subject(`User::"b${i}"`))).then((g) => g.release(), () => undefined);
    inRedis = (await admin.keys('warden:test:startdown:*')).length;
  }
  assert.ok(inRedis > 0, 'the limiter writes its buckets to Redis once it answers');
});

import { Redis, type RedisOptions } from 'ioredis';
import { WardenError } from '../../errors/index.js';
import { MemoryRateLimiter } from './MemoryRateLimiter.js';
import { MAX_DEBT_MS, type BucketTake, type RateLimit, type RateLimitResult, type RateLimiter } from './RateLimiter.js';
import { MAX_RETRY_AFTER_SECONDS } from './RateLimitedError.js';
import { ConcurrencyLimiter, type SlotRequest, type SlotStore } from './ConcurrencyLimiter.js';
import { MAX_PENDING_CORRECTIONS, PendingCorrections } from './PendingCorrections.js';
import { classifyRedisFailure } from './classifyRedisFailure.js';

/**
 * All-or-nothing token buckets over KEYS, with the clock of the Redis server (`TIME`) so that
 * every replica refills from the same time base. ARGV[1] = '1' forces (usage corrections);
 * then per key: rate (tokens/ms), burst, cost. Returns { allowed, retryAfterMs, remaining }.
 * Denials write nothing; buckets expire once they would be full again. Debt from usage
 * corrections is floored at MAX_DEBT_MS of refill (an admission charge is taken whole: its unused
 * part is refunded whole later), and waits and TTLs are whole milliseconds of at most a day: a Lua number
 * past 2^63 reaches Redis as a negative integer, and PEXPIRE refuses "1e+20", which would leave
 * the key without a TTL.
 */
export const TOKEN_BUCKET_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local force = ARGV[1] == '1'
local n = #KEYS
local tokens = {}
local retry = 0
for i = 1, n do
  local rate = tonumber(ARGV[3 * i - 1])
  local burst = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local b = redis.call('HMGET', KEYS[i], 't', 'ts')
  local tk = tonumber(b[1])
  local ts = tonumber(b[2])
  if tk == nil or ts == nil then
    tk = burst
  elseif now > ts then
    tk = math.min(burst, tk + (now - ts) * rate)
  end
  tokens[i] = tk
  local need = math.min(cost, burst)
  if (not force) and tk < need then
    local w = math.min(math.ceil((need - tk) / rate), ${MAX_RETRY_AFTER_SECONDS * 1000})
    if not (w >= 1) then w = 1 end
    if w > retry then retry = w end
  end
end
if retry > 0 then return {0, retry, 0} end
local remaining = -1
for i = 1, n do
  local rate = tonumber(ARGV[3 * i - 1])
  local burst = tonumber(ARGV[3 * i])
  local tk = math.min(burst, tokens[i] - tonumber(ARGV[3 * i + 1]))
  if force then tk = math.max(-rate * ${MAX_DEBT_MS}, tk) end
  redis.call('HSET', KEYS[i], 't', tostring(tk), 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.min(math.ceil((burst - tk) / rate) + 1000, ${MAX_RETRY_AFTER_SECONDS * 1000}))
  local r = math.floor(tk)
  if r < 0 then r = 0 end
  if remaining < 0 or r < remaining then remaining = r end
end
return {1, 0, remaining}
`;

/** First and longest wait before retrying what failed because Redis was down or slow: a lease release, pending usage corrections. */
const STORE_RETRY_FIRST_MS = 1_000;
const STORE_RETRY_MAX_MS = 30_000;

/** Pending corrections sent per script call when Redis is back: one atomic call, far within any timeoutMs. */
const CORRECTIONS_PER_CALL = 100;

/**
 * Concurrency slots shared by all replicas, all or nothing: one sorted set per key whose members
 * are leases scored by their expiry (Redis `TIME`), so slots of a replica that died free
 * themselves. ARGV[1] = lease, ARGV[2] = lease ms, then the max per key. Returns -1 when
 * acquired, else the 0-based index of a full key.
 */
export const SLOTS_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then return i - 1 end
end
local ms = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ms, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ms)
end
return -1
`;

/**
 * Extends a held lease to ARGV[2] ms from now (Redis `TIME`) in every slot set that still holds
 * it (ARGV[1]), and the set's TTL with it. A lease that expired meanwhile is not re-added: its
 * slot may have gone to another request.
 */
export const RENEW_LEASE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[2])
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], 'XX', now + ms, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ms)
  end
end
return 0
`;

function storeUnavailable(cause: unknown): WardenError {
  return new WardenError('WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE', 'the rate-limit store is unreachable; failing closed', { cause });
}

type SlotsScript = (numKeys: number, ...args: (string | number)[]) => Promise<number>;

type BucketScript = (numKeys: number, ...args: (string | number)[]) => Promise<[number, number, number]>;

export interface RedisRateLimiterOptions {
  /** redis:// URL or an existing client (not closed by `close()` then). */
  redis: string | Redis;
  keyPrefix?: string;
  /** Budget per call; a slower Redis counts as down. */
  timeoutMs?: number;
  /** When Redis is unreachable: refuse with 503 (default) or use a per-replica memory limiter. */
  onStoreDown?: 'fail-closed' | 'memory';
  maxKeys?: number;
  /** Called once per outage (e.g. to log/alert), and once more when it costs usage corrections; never on the hot path when healthy. */
  onStoreError?: (err: unknown) => void;
  /** Most buckets whose usage corrections wait for Redis during an outage (default 10 000). */
  maxPendingCorrections?: number;
}

/** Token buckets shared by all gateway replicas through Redis: one EVALSHA per call. */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis & { wardenTokenBucket: BucketScript; wardenSlots: SlotsScript; wardenRenewLease: SlotsScript };
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly fallback: MemoryRateLimiter | null;
  private healthy = true;
  /** Renewal timers of the leases held now, by lease (names are unique per process). */
  private readonly renewals = new Map<string, NodeJS.Timeout>();
  /** Usage corrections that failed because Redis was down, applied when it answers again (keepCorrection). */
  private readonly pending: PendingCorrections;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** Corrections of the flush under way not answered yet (out of `pending` while in flight). */
  private sending = 0;
  private flushRetryMs = STORE_RETRY_FIRST_MS;
  /** Whether this outage already cost a correction to the queue's bound (reported once). */
  private droppedReported = false;
  private closed = false;

  constructor(private readonly o: RedisRateLimiterOptions) {
    this.prefix = o.keyPrefix ?? 'warden:rl:';
    this.ownsClient = typeof o.redis === 'string';
    const options: RedisOptions = {
      // Fail fast instead of queueing while disconnected: the request path must not hang.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: o.timeoutMs ?? 50,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    };
    const client = typeof o.redis === 'string' ? new Redis(o.redis, options) : o.redis;
    if (this.ownsClient) client.on('error', () => {}); // reported per call through onStoreError
    // defineCommand sends EVALSHA and falls back to EVAL only when the script is not cached yet.
    client.defineCommand('wardenTokenBucket', { lua: TOKEN_BUCKET_LUA });
    client.defineCommand('wardenSlots', { lua: SLOTS_LUA });
    client.defineCommand('wardenRenewLease', { lua: RENEW_LEASE_LUA });
    this.redis = client as Redis & { wardenTokenBucket: BucketScript; wardenSlots: SlotsScript; wardenRenewLease: SlotsScript };
    this.fallback = o.onStoreDown === 'memory' ? new MemoryRateLimiter({ maxKeys: o.maxKeys }) : null;
    this.pending = new PendingCorrections(o.maxPendingCorrections ?? MAX_PENDING_CORRECTIONS);
  }

  /** Buckets whose usage corrections wait for Redis to answer again, the ones being sent included. */
  get pendingCorrections(): number {
    return this.pending.size + this.sending;
  }

  /**
   * Resolves once the client is connected and answers (call at startup: until then every
   * call counts as "store down"); rejects after `timeoutMs`.
   */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.redis.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.redis.off('ready', onReady);
          reject(new WardenError('WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE', `Redis not reachable within ${timeoutMs} ms`));
        }, timeoutMs);
        const onReady = (): void => {
          clearTimeout(timer);
          resolve();
        };
        this.redis.once('ready', onReady);
      });
    }
    await this.redis.ping();
  }

  take(key: string, cost: number, limit: RateLimit): Promise<RateLimitResult> {
    return this.run([{ key, cost, limit }]);
  }

  takeMany(takes: readonly BucketTake[]): Promise<RateLimitResult> {
    return this.run(takes);
  }

  /**
   * A usage correction (never denied). When Redis is down it is kept for later (keepCorrection),
   * and still rejects in fail-closed mode, as it is not applied yet; with `onStoreDown: memory` it
   * is also applied to the per-replica fallback, which counts this replica's requests meanwhile.
   */
  async adjust(key: string, cost: number, limit: RateLimit): Promise<void> {
    const correction = { key, cost, limit };
    try {
      await this.buckets([correction], true);
      this.storeUp();
    } catch (err) {
      this.reportStoreDown(err);
      this.keepCorrection(correction, err);
      if (!this.fallback) throw storeUnavailable(err);
      this.fallback.adjust(key, cost, limit);
    }
  }

  /**
   * Queues a correction that failed for the next flush, unless sending it again could grant
   * tokens twice or cannot work (classifyRedisFailure). A command that certainly did not run
   * (not connected, or refused by Redis) is safe to send again. One that may have run (a timeout
   * after it was written, a connection lost before its reply) is sent again only when it is a
   * charge: run twice it over-counts, which only makes the limit stricter; a refund run twice
   * would give back tokens nobody returned, so it is given up. One that Redis ran and answered
   * with an error would fail again: given up. With `onStoreDown: memory` refunds are never
   * queued: requests admitted during the outage were charged to the per-replica fallback, not
   * Redis, and a correction cannot tell which store its admission charged.
   */
  private keepCorrection(c: BucketTake, err: unknown): void {
    const failure = classifyRedisFailure(err);
    if (failure === 'failed') return;
    if (c.cost < 0 && (this.fallback !== null || failure !== 'not-run')) return;
    this.keepUnsent([c]);
  }

  /** Queues corrections that were never sent. */
  private keepUnsent(corrections: readonly BucketTake[]): void {
    if (this.closed) return;
    for (const c of corrections) if (!this.pending.add(c.key, c.cost, c.limit)) this.reportDropped();
    this.scheduleFlush();
  }

  private reportDropped(): void {
    if (this.droppedReported) return;
    this.droppedReported = true;
    this.o.onStoreError?.(
      new WardenError('WARDEN_GATEWAY_RATE_LIMIT_CORRECTIONS_DROPPED', `usage corrections for more than ${this.pending.maxEntries} buckets are waiting for the rate-limit store; refunds are given up first, then new corrections`),
    );
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== null || this.flushing !== null || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushCorrections();
    }, this.flushRetryMs).unref();
  }

  /** Redis answered: pending corrections go now rather than at the next backoff tick. */
  private storeUp(): void {
    this.healthy = true;
    if (this.pending.size > 0 && this.flushing === null && !this.closed) void this.flushCorrections();
  }

  /**
   * Sends every pending correction, a chunk per script call, in order. At the first failure the
   * chunk that failed is kept back by the same rules as a first attempt (keepCorrection), the
   * chunks not sent yet are kept whole, and the next attempt waits twice as long.
   */
  private flushCorrections(): Promise<void> {
    if (this.flushing !== null) return this.flushing;
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const send = async (): Promise<boolean> => {
      const batch = this.pending.drain();
      this.sending = batch.length;
      for (let i = 0; i < batch.length; i += CORRECTIONS_PER_CALL) {
        if (!(await this.sendCorrections(batch.slice(i, i + CORRECTIONS_PER_CALL)))) {
          this.keepUnsent(batch.slice(i + CORRECTIONS_PER_CALL));
          return false;
        }
        this.sending = batch.length - i - CORRECTIONS_PER_CALL;
      }
      return true;
    };
    this.flushing = send()
      .catch(() => false)
      .then((sent) => {
        this.flushing = null;
        this.sending = 0;
        if (sent) {
          this.healthy = true;
          this.flushRetryMs = STORE_RETRY_FIRST_MS;
          if (this.pending.size === 0) this.droppedReported = false;
        } else {
          this.flushRetryMs = Math.min(this.flushRetryMs * 2, STORE_RETRY_MAX_MS);
        }
        if (this.pending.size > 0) this.scheduleFlush();
      });
    return this.flushing;
  }

  /**
   * Sends corrections in one script call. False when Redis is down or slow: the call's
   * corrections are then kept (keepCorrection). A call Redis answered with an error wrote
   * nothing (the script reads every bucket before writing any), so its corrections are sent
   * again one by one: one bad bucket (a key of another type under the prefix) is given up
   * alone instead of taking the others with it.
   */
  private async sendCorrections(corrections: readonly BucketTake[]): Promise<boolean> {
    try {
      await this.buckets(corrections, true);
      return true;
    } catch (err) {
      this.reportStoreDown(err);
      if (classifyRedisFailure(err) !== 'failed') {
        for (const c of corrections) this.keepCorrection(c, err);
        return false;
      }
      if (corrections.length > 1) {
        for (let i = 0; i < corrections.length; i++) {
          if (!(await this.sendCorrections([corrections[i]!]))) {
            this.keepUnsent(corrections.slice(i + 1));
            return false;
          }
        }
      }
      return true;
    }
  }

  /**
   * Concurrency slots in Redis, shared by every replica. A held lease is renewed every
   * `leaseMs` / 3 until it is released, so a request that outlives `leaseMs` (a long stream)
   * keeps its slot, while a lease whose replica died frees itself after `leaseMs`. With Redis
   * down: `onStoreDown: memory` counts this replica's slots, else the request is refused (503).
   */
  slots(leaseMs: number): SlotStore {
    const local = this.fallback ? new ConcurrencyLimiter() : null;
    // Leases taken while Redis was down are released where they were counted.
    const heldLocally = new Set<string>();
    const renewEveryMs = Math.max(1, Math.floor(leaseMs / 3));
    return {
      acquire: async (slots: readonly SlotRequest[], lease: string): Promise<number> => {
        const args: (string | number)[] = slots.map((x) => this.prefix + x.key);
        args.push(lease, leaseMs, ...slots.map((x) => x.max));
        try {
          const full = await this.redis.wardenSlots(slots.length, ...args);
          this.storeUp();
          if (full < 0) {
            const keys = args.slice(0, slots.length) as string[];
            this.renewals.set(lease, setInterval(() => this.renewLease(keys, lease, leaseMs), renewEveryMs).unref());
          }
          return full;
        } catch (err) {
          this.reportStoreDown(err);
          // A call that timed out may still run in Redis later and take the slots: remove the
          // lease after it (one connection, so Redis runs the two in order), or it would hold the
          // slots until the lease expires.
          this.releaseLease(slots.map((x) => x.key), lease, Date.now() + leaseMs);
          if (!local) throw storeUnavailable(err);
          const full = local.acquire(slots);
          if (full < 0) heldLocally.add(lease);
          return full;
        }
      },
      release: (keys: readonly string[], lease: string): void => {
        clearInterval(this.renewals.get(lease));
        this.renewals.delete(lease);
        if (heldLocally.delete(lease)) {
          local!.release(keys);
          return;
        }
        this.releaseLease(keys, lease, Date.now() + leaseMs);
      },
    };
  }

  /**
   * Removes a lease from its slot sets. While Redis is down or slow it is retried with backoff
   * until the lease would have expired by itself; a held lease counts against the principal.
   */
  private releaseLease(keys: readonly string[], lease: string, expiresAt: number, retryMs = STORE_RETRY_FIRST_MS): void {
    const pipeline = this.redis.pipeline();
    for (const k of keys) pipeline.zrem(this.prefix + k, lease);
    pipeline
      .exec()
      .then((results) => {
        // A pipeline resolves even when its commands failed (not writable, timed out): each result is [err, value].
        const failed = results?.find(([err]) => err)?.[0];
        if (failed) throw failed;
      })
      .catch((err: unknown) => {
        this.reportStoreDown(err);
        if (Date.now() + retryMs < expiresAt) setTimeout(() => this.releaseLease(keys, lease, expiresAt, Math.min(retryMs * 2, STORE_RETRY_MAX_MS)), retryMs).unref();
      });
  }

  /**
   * One renewal of a held lease. A failure is reported like any store error (onStoreError, once
   * per outage: a message, never the Redis URL's credentials) and retried at the next tick; two
   * ticks remain before the lease would expire.
   */
  private renewLease(prefixedKeys: readonly string[], lease: string, leaseMs: number): void {
    this.redis.wardenRenewLease(prefixedKeys.length, ...prefixedKeys, lease, leaseMs).then(
      () => this.storeUp(),
      (err: unknown) => this.reportStoreDown(err),
    );
  }

  /**
   * Marks the store down and reports it (onStoreError) once per outage; the next call Redis
   * answers ends the outage. Public for a start without Redis (`onStoreDown: memory`).
   */
  reportStoreDown(err: unknown): void {
    if (this.healthy) {
      this.healthy = false;
      this.o.onStoreError?.(err);
    }
  }

  private async run(takes: readonly BucketTake[]): Promise<RateLimitResult> {
    try {
      const [allowed, retryAfterMs, remaining] = await this.buckets(takes, false);
      this.storeUp();
      return { allowed: allowed === 1, retryAfterMs, remaining };
    } catch (err) {
      this.reportStoreDown(err);
      if (this.fallback) return this.fallback.takeMany(takes);
      throw storeUnavailable(err);
    }
  }

  /** One TOKEN_BUCKET_LUA call over `takes`; `force` for usage corrections. */
  private buckets(takes: readonly BucketTake[], force: boolean): Promise<[number, number, number]> {
    const args: (string | number)[] = new Array(takes.length * 4 + 1);
    for (let i = 0; i < takes.length; i++) {
      const t = takes[i]!;
      args[i] = this.prefix + t.key;
    }
    let a = takes.length;
    args[a++] = force ? '1' : '0';
    for (let i = 0; i < takes.length; i++) {
      const t = takes[i]!;
      args[a++] = t.limit.ratePerMinute / 60_000;
      args[a++] = t.limit.burst;
      args[a++] = t.cost;
    }
    return this.redis.wardenTokenBucket(takes.length, ...args);
  }

  /**
   * Stops renewing leases (they expire after their lease time, like a crashed replica's), sends
   * pending corrections once (best effort: what fails now is lost with the process) and
   * disconnects an owned client.
   */
  async close(): Promise<void> {
    if (this.flushing !== null) await this.flushing;
    if (this.pending.size > 0) await this.flushCorrections();
    this.closed = true;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    for (const timer of this.renewals.values()) clearInterval(timer);
    this.renewals.clear();
    if (this.ownsClient) this.redis.disconnect();
  }
}

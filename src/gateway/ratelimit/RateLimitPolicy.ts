import { WardenError } from '../../errors/index.js';
import { randomBytes } from 'node:crypto';
import { ConcurrencyLimiter, type SlotRequest, type SlotStore } from './ConcurrencyLimiter.js';
import { RateLimitedError } from './RateLimitedError.js';
import type { BucketTake, RateLimit, RateLimitResult, RateLimiter } from './RateLimiter.js';

export interface RateLimitRule {
  /** Omitted field: any value, one bucket shared across values. `"*"`: any value, one bucket per value. `"pre*"`: prefix, per value. Otherwise: exact value. */
  match?: { principal?: string; key?: string; tenant?: string; model?: string };
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  concurrent?: number;
  burst?: number;
  tokensBurst?: number;
}

/** What a request is, for rate limiting. Strings are identifiers (never credentials). */
export interface RateLimitSubject {
  /** Cedar entity string of the principal, e.g. `User::"alice"`. */
  principal: string;
  /** API key id when authenticated by key. */
  key: string | null;
  tenant: string | null;
  model: string | null;
  /** Prompt tokens estimated before the call (estimatePromptTokens); 0 skips token buckets. */
  estimatedTokens: number;
}

/** Upstream `usage` (OpenAI shape). */
export interface TokenUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

type Field = 'principal' | 'key' | 'tenant' | 'model';
const FIELDS: readonly Field[] = ['principal', 'key', 'tenant', 'model'];
type Matcher = { field: Field; kind: 'any' | 'prefix' | 'exact'; value: string };

/** The three bucket keys of one rule for one subject (requests, tokens, concurrency). */
interface RuleKeys {
  q: string;
  t: string;
  c: string;
}

/** Most cached key triples per rule; the cache is dropped when full (it is only a speed-up). */
const KEY_CACHE_MAX = 10_000;

interface CompiledRule {
  index: number;
  matchers: Matcher[];
  /** Keys by matched value, for rules with at most one matcher (the common case). */
  keyCache: Map<string, RuleKeys> | null;
  requests: RateLimit | null;
  tokens: RateLimit | null;
  concurrent: number | null;
}

/** Concurrency slots one request holds, and the lease they are held under. */
interface Held {
  keys: string[];
  lease: string;
}

/** Holds what one admitted request took; `release()` exactly once when the request ends. */
export class RateLimitGrant {
  private released = false;
  constructor(
    private readonly slots: SlotStore | null,
    readonly concurrencyKeys: readonly string[],
    private readonly lease: string,
    /** Token buckets charged with the estimate, for correctTokens. */
    readonly tokenTakes: readonly BucketTake[],
    readonly estimatedTokens: number,
    readonly result: RateLimitResult,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.concurrencyKeys.length > 0) this.slots!.release(this.concurrencyKeys, this.lease);
  }
}

const NO_LIMITS = new RateLimitGrant(null, [], '', [], 0, { allowed: true, retryAfterMs: 0, remaining: Number.MAX_SAFE_INTEGER });

/** Lease names: unique per process (random prefix) and per grant (counter), without a UUID per request. */
const LEASE_PREFIX = randomBytes(9).toString('base64url');
let leaseCounter = 0;
const NOTHING_HELD: Held = { keys: [], lease: '' };

function compile(rule: RateLimitRule, index: number): CompiledRule {
  const matchers: Matcher[] = [];
  for (const field of FIELDS) {
    const v = rule.match?.[field];
    if (v === undefined) continue;
    if (v === '*') matchers.push({ field, kind: 'any', value: '' });
    else if (v.endsWith('*')) matchers.push({ field, kind: 'prefix', value: v.slice(0, -1) });
    else matchers.push({ field, kind: 'exact', value: v });
  }
  if (!rule.requestsPerMinute && !rule.tokensPerMinute && !rule.concurrent) {
    throw new WardenError('WARDEN_CONFIG_INVALID', `gateway.rateLimit.rules[${index}]: set requestsPerMinute, tokensPerMinute or concurrent`);
  }
  const rpm = rule.requestsPerMinute;
  const tpm = rule.tokensPerMinute;
  return {
    index,
    matchers,
    keyCache: matchers.length <= 1 ? new Map() : null,
    requests: rpm ? { ratePerMinute: rpm, burst: rule.burst ?? Math.max(1, Math.ceil(rpm / 6)) } : null,
    tokens: tpm ? { ratePerMinute: tpm, burst: rule.tokensBurst ?? Math.max(1, Math.ceil(tpm / 6)) } : null,
    concurrent: rule.concurrent ?? null,
  };
}

function keysFor(base: string): RuleKeys {
  return { q: `${base}|q`, t: `${base}|t`, c: `${base}|c` };
}

function matches(m: Matcher, v: string | null): v is string {
  return v !== null && (m.kind === 'any' || (m.kind === 'exact' ? v === m.value : v.startsWith(m.value)));
}

/** The bucket keys of a matching rule, or null when the rule does not apply to `s`. */
function bucketKeys(rule: CompiledRule, s: RateLimitSubject): RuleKeys | null {
  const cache = rule.keyCache;
  if (cache !== null) {
    // At most one matcher: the matched value alone identifies the bucket.
    const m = rule.matchers[0];
    const v = m ? s[m.field] : '';
    if (m && !matches(m, v)) return null;
    let keys = cache.get(v!);
    if (keys === undefined) {
      if (cache.size >= KEY_CACHE_MAX) cache.clear();
      keys = keysFor(m ? `r${rule.index}|${m.field}:${v!.length}:${v!}` : `r${rule.index}`);
      cache.set(v!, keys);
    }
    return keys;
  }
  let base = `r${rule.index}`;
  for (const m of rule.matchers) {
    const v = s[m.field];
    if (!matches(m, v)) return null;
    // Length-prefixed so values containing separators cannot collide with other keys.
    base += `|${m.field}:${v.length}:${v}`;
  }
  return keysFor(base);
}

/**
 * Evaluates every matching rule for a request: concurrency slots (this replica, or all replicas
 * with Redis), then all request and token buckets in one all-or-nothing limiter call. Denials
 * throw a 429 RateLimitedError carrying `retryAfterSeconds`.
 */
export class RateLimitPolicy {
  private readonly rules: CompiledRule[];
  private readonly limiter: RateLimiter;
  private readonly slots: SlotStore;

  constructor(rules: readonly RateLimitRule[], o: { limiter: RateLimiter; concurrency?: SlotStore }) {
    this.rules = rules.map(compile);
    this.limiter = o.limiter;
    this.slots = o.concurrency ?? new ConcurrencyLimiter();
  }

  get active(): boolean {
    return this.rules.length > 0;
  }

  /** Admits the request or throws; synchronous with the memory stores, awaits with Redis. */
  check(s: RateLimitSubject): RateLimitGrant | Promise<RateLimitGrant> {
    if (this.rules.length === 0) return NO_LIMITS;
    let takes: BucketTake[] | null = null;
    let tokenTakes: BucketTake[] | null = null;
    let slots: SlotRequest[] | null = null;
    let slotRules: number[] | null = null;
    for (const rule of this.rules) {
      const keys = bucketKeys(rule, s);
      if (keys === null) continue;
      if (rule.concurrent !== null) {
        (slots ??= []).push({ key: keys.c, max: rule.concurrent });
        (slotRules ??= []).push(rule.index);
      }
      if (rule.requests) (takes ??= []).push({ key: keys.q, cost: 1, limit: rule.requests });
      if (rule.tokens && s.estimatedTokens > 0) {
        const t = { key: keys.t, cost: s.estimatedTokens, limit: rule.tokens };
        (takes ??= []).push(t);
        (tokenTakes ??= []).push(t);
      }
    }
    if (!slots) return this.takeBuckets(takes, tokenTakes, s.estimatedTokens, NOTHING_HELD);
    const held: Held = { keys: slots.map((x) => x.key), lease: `${LEASE_PREFIX}:${leaseCounter++}` };
    const full = this.slots.acquire(slots, held.lease);
    const afterSlots = (index: number): RateLimitGrant | Promise<RateLimitGrant> => {
      if (index >= 0) {
        throw new RateLimitedError('WARDEN_GATEWAY_CONCURRENCY_LIMITED', `more than ${slots[index]!.max} concurrent requests (rule ${slotRules![index]})`, 1000);
      }
      return this.takeBuckets(takes, tokenTakes, s.estimatedTokens, held);
    };
    return typeof full === 'number' ? afterSlots(full) : full.then(afterSlots);
  }

  /** Request and token buckets, all or nothing; a denial or a store failure gives the slots back. */
  private takeBuckets(takes: BucketTake[] | null, tokenTakes: BucketTake[] | null, estimated: number, held: Held): RateLimitGrant | Promise<RateLimitGrant> {
    if (!takes) return held.keys.length ? new RateLimitGrant(this.slots, held.keys, held.lease, [], 0, NO_LIMITS.result) : NO_LIMITS;
    let r: RateLimitResult | Promise<RateLimitResult>;
    try {
      r = this.limiter.takeMany(takes);
    } catch (err) {
      this.releaseAll(held);
      throw err;
    }
    if (r instanceof Promise) {
      return r.then(
        (res) => this.admit(res, held, tokenTakes, estimated),
        (err: unknown) => {
          this.releaseAll(held);
          throw err;
        },
      );
    }
    return this.admit(r, held, tokenTakes, estimated);
  }

  private releaseAll(held: Held): void {
    if (held.keys.length) this.slots.release(held.keys, held.lease);
  }

  private admit(r: RateLimitResult, held: Held, tokenTakes: BucketTake[] | null, estimated: number): RateLimitGrant {
    if (!r.allowed) {
      this.releaseAll(held);
      throw new RateLimitedError('WARDEN_GATEWAY_RATE_LIMITED', `rate limit exceeded; retry in ${Math.max(1, Math.ceil(r.retryAfterMs / 1000))} s`, r.retryAfterMs);
    }
    return new RateLimitGrant(this.slots, held.keys, held.lease, tokenTakes ?? [], estimated, r);
  }

  /**
   * After the upstream answered: charges the difference between its `usage.total_tokens`
   * (prompt + completion) and the prompt estimate charged up front. Never denies; the next
   * request of an over-budget principal waits instead. Errors of a shared store are swallowed:
   * a lost correction must not fail a request that already succeeded.
   */
  correctTokens(grant: RateLimitGrant, usage: TokenUsage | number | null | undefined): void | Promise<void> {
    if (grant.tokenTakes.length === 0 || usage == null) return;
    const actual = typeof usage === 'number' ? usage : (usage.total_tokens ?? (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0));
    if (!Number.isFinite(actual) || actual < 0) return;
    const delta = actual - grant.estimatedTokens;
    if (delta === 0) return;
    let pending: Promise<void>[] | null = null;
    for (const t of grant.tokenTakes) {
      try {
        const p = this.limiter.adjust(t.key, delta, t.limit);
        if (p) (pending ??= []).push(p.catch(() => {}));
      } catch {
        // see above
      }
    }
    if (pending) return Promise.all(pending).then(() => {});
  }
}

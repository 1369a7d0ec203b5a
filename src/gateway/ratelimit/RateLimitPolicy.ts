import { WardenError } from '../../errors/index.js';
import { ConcurrencyLimiter } from './ConcurrencyLimiter.js';
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

/** Holds what one admitted request took; `release()` exactly once when the request ends. */
export class RateLimitGrant {
  private released = false;
  constructor(
    private readonly concurrency: ConcurrencyLimiter | null,
    readonly concurrencyKeys: readonly string[],
    /** Token buckets charged with the estimate, for correctTokens. */
    readonly tokenTakes: readonly BucketTake[],
    readonly estimatedTokens: number,
    readonly result: RateLimitResult,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const k of this.concurrencyKeys) this.concurrency!.release(k);
  }
}

const NO_LIMITS = new RateLimitGrant(null, [], [], 0, { allowed: true, retryAfterMs: 0, remaining: Number.MAX_SAFE_INTEGER });

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
 * Evaluates every matching rule for a request: concurrency slots (this replica), then all
 * request and token buckets in one all-or-nothing limiter call. Denials throw a 429
 * RateLimitedError carrying `retryAfterSeconds`.
 */
export class RateLimitPolicy {
  private readonly rules: CompiledRule[];
  private readonly limiter: RateLimiter;
  private readonly concurrency: ConcurrencyLimiter;

  constructor(rules: readonly RateLimitRule[], o: { limiter: RateLimiter; concurrency?: ConcurrencyLimiter }) {
    this.rules = rules.map(compile);
    this.limiter = o.limiter;
    this.concurrency = o.concurrency ?? new ConcurrencyLimiter();
  }

  get active(): boolean {
    return this.rules.length > 0;
  }

  /** Admits the request or throws; synchronous with the memory limiter, one await with Redis. */
  check(s: RateLimitSubject): RateLimitGrant | Promise<RateLimitGrant> {
    if (this.rules.length === 0) return NO_LIMITS;
    let takes: BucketTake[] | null = null;
    let tokenTakes: BucketTake[] | null = null;
    let slots: string[] | null = null;
    for (const rule of this.rules) {
      const keys = bucketKeys(rule, s);
      if (keys === null) continue;
      if (rule.concurrent !== null) {
        const ck = keys.c;
        if (!this.concurrency.tryAcquire(ck, rule.concurrent)) {
          if (slots) for (const k of slots) this.concurrency.release(k);
          throw new RateLimitedError('WARDEN_GATEWAY_CONCURRENCY_LIMITED', `more than ${rule.concurrent} concurrent requests (rule ${rule.index})`, 1000);
        }
        (slots ??= []).push(ck);
      }
      if (rule.requests) (takes ??= []).push({ key: keys.q, cost: 1, limit: rule.requests });
      if (rule.tokens && s.estimatedTokens > 0) {
        const t = { key: keys.t, cost: s.estimatedTokens, limit: rule.tokens };
        (takes ??= []).push(t);
        (tokenTakes ??= []).push(t);
      }
    }
    if (!takes) return slots ? new RateLimitGrant(this.concurrency, slots, [], 0, NO_LIMITS.result) : NO_LIMITS;
    let r: RateLimitResult | Promise<RateLimitResult>;
    try {
      r = this.limiter.takeMany(takes);
    } catch (err) {
      this.releaseAll(slots);
      throw err;
    }
    if (r instanceof Promise) {
      return r.then(
        (res) => this.admit(res, slots, tokenTakes, s.estimatedTokens),
        (err: unknown) => {
          this.releaseAll(slots);
          throw err;
        },
      );
    }
    return this.admit(r, slots, tokenTakes, s.estimatedTokens);
  }

  private releaseAll(slots: string[] | null): void {
    if (slots) for (const k of slots) this.concurrency.release(k);
  }

  private admit(r: RateLimitResult, slots: string[] | null, tokenTakes: BucketTake[] | null, estimated: number): RateLimitGrant {
    if (!r.allowed) {
      this.releaseAll(slots);
      throw new RateLimitedError('WARDEN_GATEWAY_RATE_LIMITED', `rate limit exceeded; retry in ${Math.max(1, Math.ceil(r.retryAfterMs / 1000))} s`, r.retryAfterMs);
    }
    return new RateLimitGrant(this.concurrency, slots ?? [], tokenTakes ?? [], estimated, r);
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

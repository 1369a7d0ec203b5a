import { WardenError } from '../../errors/index.js';
import { randomBytes } from 'node:crypto';
import { ConcurrencyLimiter, type SlotRequest, type SlotStore } from './ConcurrencyLimiter.js';
import { RateLimitedError, retryAfterSeconds } from './RateLimitedError.js';
import type { BucketTake, RateLimit, RateLimitResult, RateLimiter } from './RateLimiter.js';
import { tokenCount, usageTotal } from './usageTotal.js';
import { DEFAULT_COMPLETION_RESERVE, type CompletionReservation, type CompletionReserveConfig } from './reserveCompletionTokens.js';

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
  /**
   * Most prompt tokens the call can have used, from the body's size (promptTokenCeiling); bounds
   * its reported usage. Absent (a caller without the body): PROMPT_UNDERESTIMATE × the estimate.
   */
  promptCeiling?: number;
  /** Completion tokens reserved on top of the prompt (reserveCompletionTokens); absent: none (embeddings). */
  completion?: CompletionReservation;
}

/** Upstream `usage` (OpenAI shape; Responses API / Anthropic: input and output tokens). */
export interface TokenUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  input_tokens?: number;
  output_tokens?: number;
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

/** What one admission charged the token buckets, and the limiter that corrects them. */
interface TokenCharge {
  limiter: RateLimiter;
  /** Token buckets charged `charged` each. */
  takes: readonly BucketTake[];
  /** The prompt estimate. */
  estimated: number;
  /** The prompt estimate plus the completion reservation. */
  charged: number;
  /** Most tokens the call is charged, whatever its usage says (usageCeiling). */
  ceiling: number;
}

/**
 * How far a prompt's real size may exceed its characters / 4 estimate: byte-level BPE tokens
 * cover at least one UTF-8 byte each, and a UTF-16 character is at most 3 bytes, so text the
 * estimate counted is at most 3 tokens per character = 12 × the estimate. Only for a subject
 * without promptCeiling: text the estimate does not see is not bounded by it.
 */
const PROMPT_UNDERESTIMATE = 12;

/**
 * Most tokens one call can have used: its prompt ceiling plus the most completion it may
 * produce. Bounds the upstream's `usage`, which a buggy or compromised model server could report
 * as 2^64 (the limiters also floor each bucket's debt: debtFloor). Both parts come from what the
 * gateway measured or configured, never from a length the client chose, so a client cannot cut
 * an honest report short: a refusal part the estimate once priced at 85 tokens, or `max_tokens: 1`
 * beside llama.cpp's `n_predict: 8000`, had the usage cut to a hundredth of what was used.
 */
function usageCeiling(s: RateLimitSubject): number {
  return (s.promptCeiling ?? PROMPT_UNDERESTIMATE * s.estimatedTokens) + (s.completion?.most ?? 0);
}

/**
 * Holds what one admitted request took; `release()` exactly once when the request ends. Its
 * token charge is settled once: by the first correction (the upstream's usage, or the text
 * estimate), else by `release()`, which refunds the completion reservation of a call that got
 * no answer to count (upstream error, non-2xx answer, timeout); the prompt estimate stays charged.
 */
export class RateLimitGrant {
  private released = false;
  private settled = false;

  constructor(
    private readonly slots: SlotStore | null,
    readonly concurrencyKeys: readonly string[],
    private readonly lease: string,
    private readonly tokens: TokenCharge | null,
    readonly result: RateLimitResult,
  ) {}

  /** Token buckets charged at admission (none: the call is not token-limited). */
  get tokenTakes(): readonly BucketTake[] {
    return this.tokens?.takes ?? [];
  }

  /** Prompt tokens estimated at admission. */
  get estimatedTokens(): number {
    return this.tokens?.estimated ?? 0;
  }

  /** Tokens charged at admission: the prompt estimate plus the completion reservation. */
  get chargedTokens(): number {
    return this.tokens?.charged ?? 0;
  }

  /**
   * Charges the call's `total` tokens (prompt + completion, at most the usage ceiling) in place
   * of what admission charged; only the first settlement counts. Never denies. Errors of a shared store are swallowed: a
   * lost correction must not fail a request that already succeeded.
   */
  settleTokens(total: number): void | Promise<void> {
    const t = this.tokens;
    if (t === null || this.settled) return;
    this.settled = true;
    const delta = Math.min(total, t.ceiling) - t.charged;
    if (delta === 0) return;
    let pending: Promise<void>[] | null = null;
    for (const take of t.takes) {
      try {
        const p = t.limiter.adjust(take.key, delta, take.limit);
        if (p) (pending ??= []).push(p.catch(() => {}));
      } catch {
        // see above
      }
    }
    if (pending) return Promise.all(pending).then(() => {});
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.concurrencyKeys.length > 0) this.slots!.release(this.concurrencyKeys, this.lease);
    // No answer was counted: the completion it reserved was never produced.
    if (this.tokens && !this.settled) void this.settleTokens(this.tokens.estimated);
  }
}

const NO_LIMITS = new RateLimitGrant(null, [], '', null, { allowed: true, retryAfterMs: 0, remaining: Number.MAX_SAFE_INTEGER });

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
  /** Whether any rule has a tokens/min bucket: otherwise no request needs its tokens estimated. */
  readonly limitsTokens: boolean;
  /** How many completion tokens a chat or completions call reserves (reserveCompletionTokens). */
  readonly completionReserve: CompletionReserveConfig;

  constructor(rules: readonly RateLimitRule[], o: { limiter: RateLimiter; concurrency?: SlotStore; completionReserve?: CompletionReserveConfig }) {
    this.rules = rules.map(compile);
    this.limitsTokens = this.rules.some((r) => r.tokens !== null);
    this.limiter = o.limiter;
    this.slots = o.concurrency ?? new ConcurrencyLimiter();
    this.completionReserve = o.completionReserve ?? DEFAULT_COMPLETION_RESERVE;
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
    const charged = s.estimatedTokens + (s.completion?.reserved ?? 0);
    for (const rule of this.rules) {
      const keys = bucketKeys(rule, s);
      if (keys === null) continue;
      if (rule.concurrent !== null) {
        (slots ??= []).push({ key: keys.c, max: rule.concurrent });
        (slotRules ??= []).push(rule.index);
      }
      if (rule.requests) (takes ??= []).push({ key: keys.q, cost: 1, limit: rule.requests });
      if (rule.tokens && s.estimatedTokens > 0) {
        const t = { key: keys.t, cost: charged, limit: rule.tokens };
        (takes ??= []).push(t);
        (tokenTakes ??= []).push(t);
      }
    }
    const tokens: TokenCharge | null = tokenTakes ? { limiter: this.limiter, takes: tokenTakes, estimated: s.estimatedTokens, charged, ceiling: usageCeiling(s) } : null;
    if (!slots) return this.takeBuckets(takes, tokens, NOTHING_HELD);
    const held: Held = { keys: slots.map((x) => x.key), lease: `${LEASE_PREFIX}:${leaseCounter++}` };
    const full = this.slots.acquire(slots, held.lease);
    const afterSlots = (index: number): RateLimitGrant | Promise<RateLimitGrant> => {
      if (index >= 0) {
        throw new RateLimitedError('WARDEN_GATEWAY_CONCURRENCY_LIMITED', `more than ${slots[index]!.max} concurrent requests (rule ${slotRules![index]})`, 1000);
      }
      return this.takeBuckets(takes, tokens, held);
    };
    return typeof full === 'number' ? afterSlots(full) : full.then(afterSlots);
  }

  /** Request and token buckets, all or nothing; a denial or a store failure gives the slots back. */
  private takeBuckets(takes: BucketTake[] | null, tokens: TokenCharge | null, held: Held): RateLimitGrant | Promise<RateLimitGrant> {
    if (!takes) return held.keys.length ? new RateLimitGrant(this.slots, held.keys, held.lease, null, NO_LIMITS.result) : NO_LIMITS;
    let r: RateLimitResult | Promise<RateLimitResult>;
    try {
      r = this.limiter.takeMany(takes);
    } catch (err) {
      this.releaseAll(held);
      throw err;
    }
    if (r instanceof Promise) {
      return r.then(
        (res) => this.admit(res, held, tokens),
        (err: unknown) => {
          this.releaseAll(held);
          throw err;
        },
      );
    }
    return this.admit(r, held, tokens);
  }

  private releaseAll(held: Held): void {
    if (held.keys.length) this.slots.release(held.keys, held.lease);
  }

  private admit(r: RateLimitResult, held: Held, tokens: TokenCharge | null): RateLimitGrant {
    if (!r.allowed) {
      this.releaseAll(held);
      throw new RateLimitedError('WARDEN_GATEWAY_RATE_LIMITED', `rate limit exceeded; retry in ${retryAfterSeconds(r.retryAfterMs)} s`, r.retryAfterMs);
    }
    return new RateLimitGrant(this.slots, held.keys, held.lease, tokens, r);
  }

  /**
   * After the upstream answered: charges its `usage.total_tokens` (prompt + completion) in place
   * of what admission charged (prompt estimate + completion reservation), so an unused
   * reservation is refunded. Once per grant; never denies (the next request of an over-budget
   * principal waits instead). A usage that counts nothing (usageTotal null) corrects nothing: the
   * caller estimates from the answer's text instead.
   */
  correctTokens(grant: RateLimitGrant, usage: TokenUsage | number | null | undefined): void | Promise<void> {
    if (grant.tokenTakes.length === 0) return;
    const actual = typeof usage === 'number' ? tokenCount(usage) : usageTotal(usage);
    if (actual === null) return;
    return grant.settleTokens(actual);
  }
}

import type { Authorizer, AuthzRequest, Decision } from './Authorizer.js';

export interface CachingAuthorizerOptions {
  /** Bound on cached decisions (least recently used are evicted). */
  maxEntries?: number;
}

/**
 * A bounded LRU of decisions keyed on the full request (principal, action, resource,
 * context, parents, request entities). `swap` installs a new policy set atomically and drops
 * every cached decision, so a bundle change is visible on the very next request.
 * Contexts that change per request (e.g. `time` in seconds) make every request a miss:
 * put coarse values in the context when caching matters.
 */
export class CachingAuthorizer implements Authorizer {
  private inner: Authorizer;
  /** The entry keeps its own key string so that a hit re-inserts the long-lived one (see authorize). */
  private readonly cache = new Map<string, { key: string; decision: Decision }>();
  /** The entry last inserted or refreshed: the Map's last, so a hit on it is already most recent. */
  private newest: { key: string; decision: Decision } | null = null;
  private readonly maxEntries: number;
  readonly stats = { hits: 0, misses: 0, evictions: 0 };

  constructor(inner: Authorizer, options: CachingAuthorizerOptions = {}) {
    this.inner = inner;
    this.maxEntries = Math.max(1, options.maxEntries ?? 10_000);
  }

  get version(): string {
    return this.inner.version;
  }

  get current(): Authorizer {
    return this.inner;
  }

  get size(): number {
    return this.cache.size;
  }

  swap(next: Authorizer): void {
    this.inner = next;
    this.cache.clear();
    this.newest = null;
  }

  authorize(request: AuthzRequest): Decision {
    const key = cacheKey(request);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.stats.hits++;
      // Refresh recency (Map iteration order is insertion order) under the entry's own key: storing
      // this request's fresh key string would tie a young string to the long-lived Map on every
      // hit, and the garbage collector would have to promote one per request. The entry already
      // last stays where it is: the usual case (one caller's requests in a row), and the
      // delete + set cost more than the rest of a hit.
      if (hit !== this.newest) {
        this.cache.delete(hit.key);
        this.cache.set(hit.key, hit);
        this.newest = hit;
      }
      return hit.decision;
    }
    this.stats.misses++;
    const decision = freeze(this.inner.authorize(request));
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
      this.stats.evictions++;
    }
    const entry = { key, decision };
    this.cache.set(key, entry);
    this.newest = entry;
    return decision;
  }
}

function cacheKey(r: AuthzRequest): string {
  return JSON.stringify([r.principal.type, r.principal.id, r.action.type, r.action.id, r.resource.type, r.resource.id, r.context, r.principalParents, r.resourceParents, r.entities]);
}

/** Cached decisions are shared between requests, so nobody may modify one. */
function freeze(d: Decision): Decision {
  Object.freeze(d.determining);
  for (const e of d.errors) Object.freeze(e);
  Object.freeze(d.errors);
  return Object.freeze(d);
}

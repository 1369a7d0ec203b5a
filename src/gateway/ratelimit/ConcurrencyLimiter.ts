/** One concurrency slot wanted in `key`, of at most `max` held at once. */
export interface SlotRequest {
  key: string;
  max: number;
}

/**
 * Where concurrency slots are counted: this replica (ConcurrencyLimiter) or all replicas
 * (RedisRateLimiter.slots). `lease` names the holder, so a release frees exactly its own slots.
 */
export interface SlotStore {
  /** One slot in every key, or none: -1 when acquired, else the index of a full key. */
  acquire(slots: readonly SlotRequest[], lease: string): number | Promise<number>;
  /** Frees the lease's slots; never throws (a shared store's leases also expire on their own). */
  release(keys: readonly string[], lease: string): void;
}

/**
 * In-flight request counters per key (this gateway instance). `tryAcquire` and `release` are
 * O(1); a key is dropped when its count returns to zero so the table only holds active keys.
 */
export class ConcurrencyLimiter implements SlotStore {
  private readonly inFlight = new Map<string, number>();

  acquire(slots: readonly SlotRequest[]): number {
    for (let i = 0; i < slots.length; i++) {
      if (this.tryAcquire(slots[i]!.key, slots[i]!.max)) continue;
      for (let j = 0; j < i; j++) this.releaseOne(slots[j]!.key);
      return i;
    }
    return -1;
  }

  release(keys: readonly string[]): void {
    for (const k of keys) this.releaseOne(k);
  }

  tryAcquire(key: string, max: number): boolean {
    const n = this.inFlight.get(key) ?? 0;
    if (n >= max) return false;
    this.inFlight.set(key, n + 1);
    return true;
  }

  releaseOne(key: string): void {
    const n = this.inFlight.get(key);
    if (n === undefined) return;
    if (n <= 1) this.inFlight.delete(key);
    else this.inFlight.set(key, n - 1);
  }

  current(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }

  get size(): number {
    return this.inFlight.size;
  }
}

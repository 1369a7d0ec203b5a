/**
 * In-flight request counters per key (this gateway instance). `tryAcquire` and `release` are
 * O(1); a key is dropped when its count returns to zero so the table only holds active keys.
 */
export class ConcurrencyLimiter {
  private readonly inFlight = new Map<string, number>();

  tryAcquire(key: string, max: number): boolean {
    const n = this.inFlight.get(key) ?? 0;
    if (n >= max) return false;
    this.inFlight.set(key, n + 1);
    return true;
  }

  release(key: string): void {
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

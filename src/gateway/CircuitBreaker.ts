/**
 * One upstream's circuit: closed (requests flow) → open after `failureThreshold` consecutive
 * failures or a failed health check (requests fail fast) → half-open after `openMs` (one trial
 * request) → closed on its success, open again on its failure. Hand-written: a few lines of state
 * on the request path, where a general-purpose library would add timers and promises per call.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialInFlight = false;
  /** Set by health checks: while false the circuit stays open whatever the requests do. */
  private healthy = true;

  constructor(
    private readonly failureThreshold: number,
    private readonly openMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (!this.healthy) return 'open';
    if (this.openUntil === 0) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** Whether requests fail fast now (a method, so callers re-read it after an await). */
  isOpen(): boolean {
    return this.state === 'open';
  }

  /** Milliseconds until a trial request may pass (for retry-after); 0 when closed. */
  retryAfterMs(): number {
    if (!this.healthy) return this.openMs;
    return Math.max(0, this.openUntil - this.now());
  }

  /** Whether a request may go to the upstream now (in half-open state: one trial at a time). */
  allow(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.openUntil = 0;
    this.trialInFlight = false;
  }

  failure(): void {
    this.trialInFlight = false;
    this.failures++;
    if (this.openUntil !== 0 || this.failures >= this.failureThreshold) this.openUntil = this.now() + this.openMs;
  }

  /** A request that says nothing about the upstream's health (e.g. the client went away). */
  release(): void {
    this.trialInFlight = false;
  }

  /** Health-check result: unhealthy holds the circuit open; recovering closes it. */
  setHealthy(healthy: boolean): void {
    if (healthy && !this.healthy) this.success();
    this.healthy = healthy;
  }
}

/**
 * One upstream's circuit: closed (requests flow) → open after `failureThreshold` consecutive
 * failures or a failed health check (requests fail fast) → half-open after `openMs` (one trial
 * request) → closed on its success, open again on its failure. Hand-written: a few lines of state
 * on the request path, where a general-purpose library would add timers and promises per call.
 *
 * A failure a client's own request can cause (a deadline passed: it asked for a long answer)
 * names the requester; a run of failures made only of one requester's counts toward the threshold
 * but opens nothing until another requester's failure (or any other kind) joins it, so one client
 * cannot take a healthy model server away from everyone else.
 *
 * allow() hands each request a ticket (a number, so nothing is allocated per request) that it
 * passes back with its outcome: only the trial's own outcome ends the trial, so requests let
 * through earlier (whose clients leave, say) cannot let more requests through during one trial.
 */
export const REFUSED = -1;
/** The ticket of a request let through while the circuit was closed. */
export const PASS = 0;

export class CircuitBreaker {
  private failures = 0;
  /** The requester of the current run's failures, while they all have the same one. */
  private soleRequester: string | null = null;
  /** The current run may open the circuit: it holds a failure of the model server's own, or two requesters'. */
  private runOpens = false;
  private openUntil = 0;
  /** Ticket of the half-open trial in flight, or PASS when there is none. */
  private trial = PASS;
  private lastTrial = PASS;
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

  /**
   * Whether a request may go to the upstream now: REFUSED, PASS, or (half-open, one at a time)
   * the trial's ticket, a positive number. Pass it to success/failure/release.
   */
  allow(): number {
    const s = this.state;
    if (s === 'closed') return PASS;
    if (s === 'open' || this.trial !== PASS) return REFUSED;
    this.lastTrial = this.lastTrial >= Number.MAX_SAFE_INTEGER ? 1 : this.lastTrial + 1;
    this.trial = this.lastTrial;
    return this.trial;
  }

  /** Closes the circuit (any request's success shows the upstream works; an older trial no longer matters). */
  success(): void {
    this.failures = 0;
    this.soleRequester = null;
    this.runOpens = false;
    this.openUntil = 0;
    this.trial = PASS;
  }

  /**
   * `requester`: who may have caused it (a deadline failure), or undefined for the model server's
   * own failures (refused connections, 502/503 answers, answers broken off).
   */
  failure(ticket: number = PASS, requester?: string): void {
    this.release(ticket);
    this.failures++;
    if (requester === undefined) this.runOpens = true;
    else if (this.soleRequester === null) this.soleRequester = requester;
    else if (this.soleRequester !== requester) this.runOpens = true;
    if (this.openUntil !== 0 || (this.failures >= this.failureThreshold && this.runOpens)) this.openUntil = this.now() + this.openMs;
  }

  /** A request that says nothing about the upstream's health (e.g. the client went away): ends only its own trial. */
  release(ticket: number = PASS): void {
    if (ticket !== PASS && ticket === this.trial) this.trial = PASS;
  }

  /** Health-check result: unhealthy holds the circuit open; recovering closes it. */
  setHealthy(healthy: boolean): void {
    if (healthy && !this.healthy) this.success();
    this.healthy = healthy;
  }
}

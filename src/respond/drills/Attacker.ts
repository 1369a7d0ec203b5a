/**
 * Sends the attacker's requests in a tight sequential loop and timestamps each answer, so a
 * drill can tell exactly when a PEP started rejecting and whether anything got through after.
 */
export interface Attempt {
  sentAt: number;
  doneAt: number;
  ok: boolean;
  status: number;
  code: string | null;
}

export class Attacker {
  readonly attempts: Attempt[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly attempt: () => Promise<{ status: number; code: string | null }>,
    private readonly maxAttempts = 20_000,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped && this.attempts.length < this.maxAttempts) {
        const sentAt = performance.now();
        let status = 0;
        let code: string | null = 'NETWORK';
        try {
          ({ status, code } = await this.attempt());
        } catch {
          /* counted as a failed attempt */
        }
        this.attempts.push({ sentAt, doneAt: performance.now(), ok: status >= 200 && status < 300, status, code });
      }
    })();
  }

  /** First attempt that was refused (after `since`), or null. */
  firstRejection(since = 0): Attempt | null {
    return this.attempts.find((a) => a.sentAt >= since && !a.ok && a.status !== 0) ?? null;
  }

  async waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      if (pred()) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
    return pred();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

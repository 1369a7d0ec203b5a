/**
 * Renews a short-lived certificate at half of its remaining lifetime, for the processes that hold
 * one for their own listener or upstream mTLS (`warden up`'s gateway SVID, a remote gateway's
 * certificate). Workload agents use WorkloadAgent, which adds jitter and file output.
 */
export interface HalfLifeRenewal {
  /** Stops renewing; an issuance in flight is discarded, not applied, and arms nothing. */
  stop(): void;
  /**
   * Renews at once (the held certificate was revoked), replacing the pending timer; the schedule
   * then follows the outcome as for a timed renewal. While a renewal is in flight this does
   * nothing: that renewal brings the fresh certificate. False when nothing was started.
   */
  renewNow(): boolean;
}

export interface HalfLifeRenewalOptions<T> {
  issue(): Promise<T>;
  /** The fresh certificate's expiry, or null when it is unknown (renewal then stops). */
  notAfterOf(fresh: T): Date | null;
  apply(fresh: T): void;
  onError(err: unknown): void;
}

/** A failed renewal retries well before expiry, but never spins once the certificate has expired. */
const RETRY_MAX_MS = 30_000;
const DELAY_MIN_MS = 1000;

export function renewAtHalfLife<T>(firstNotAfter: Date | null, o: HalfLifeRenewalOptions<T>): HalfLifeRenewal {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let inFlight = false;
  const arm = (delayMs: number): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(renew, delayMs);
    timer.unref();
  };
  const halfOfRemaining = (notAfter: Date): number => Math.max(DELAY_MIN_MS, (notAfter.getTime() - Date.now()) / 2);
  let current = firstNotAfter;
  const renew = (): void => {
    timer = null;
    inFlight = true;
    o.issue()
      .then((fresh) => {
        inFlight = false;
        if (stopped) return;
        // A certificate that cannot be applied (bad PEM, key mismatch) is a failed renewal too.
        const notAfter = o.notAfterOf(fresh);
        o.apply(fresh);
        current = notAfter;
        if (current) arm(halfOfRemaining(current));
      })
      .catch((err: unknown) => {
        inFlight = false;
        if (stopped) return;
        o.onError(err);
        const stillValid = current !== null && current.getTime() > Date.now();
        arm(stillValid ? Math.min(RETRY_MAX_MS, halfOfRemaining(current as Date)) : RETRY_MAX_MS);
      });
  };
  if (firstNotAfter) arm(halfOfRemaining(firstNotAfter));
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    renewNow() {
      if (stopped || inFlight) return false;
      if (timer) clearTimeout(timer);
      renew();
      return true;
    },
  };
}

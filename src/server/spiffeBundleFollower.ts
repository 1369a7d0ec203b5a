import { EventEmitter } from 'node:events';
import { Agent, request } from 'undici';
import { WardenError } from '../errors/index.js';
import { controlPlaneTls, x509BundlePem, type SpiffeBundle } from '../identity/index.js';
import type { Logger } from '../observe/index.js';

/** Bounds on the control plane's `spiffe_refresh_hint`: never hammered, never stale for long. */
export const BUNDLE_REFRESH_MIN_MS = 10_000;
export const BUNDLE_REFRESH_MAX_MS = 300_000;
/** At most one on-demand refetch per this interval, whatever credentials arrive (forged key IDs included). */
export const BUNDLE_REFETCH_MIN_INTERVAL_MS = 10_000;
/** A bundle fetch that takes longer than this fails (and an on-demand refetch stops holding its request). */
const FETCH_TIMEOUT_MS = 10_000;

export interface SpiffeBundleFollowerOptions {
  controlPlaneUrl: string;
  /** The CA file this gateway was deployed with: verifies the control plane and stays an anchor. */
  caPem: string;
  logger: Logger;
  /**
   * Fixed refresh interval (tests). Otherwise the bundle's `spiffe_refresh_hint`, clamped to
   * BUNDLE_REFRESH_MIN_MS..BUNDLE_REFRESH_MAX_MS, sets when it is fetched again.
   */
  refreshMs?: number;
  /** Smallest gap between two fetches `refreshNow()` starts (default BUNDLE_REFETCH_MIN_INTERVAL_MS). */
  refetchMinIntervalMs?: number;
  /**
   * Whether the start fails without a first bundle (default true: workload credentials need its
   * JWT keys). Otherwise the follower starts from the configured CA alone and keeps trying.
   */
  required?: boolean;
}

/** The refresh interval a bundle asks for (seconds in `spiffe_refresh_hint`), within sane bounds. */
export function refreshIntervalMs(bundle: SpiffeBundle): number {
  const hint = bundle.spiffe_refresh_hint;
  if (typeof hint !== 'number' || !Number.isFinite(hint) || hint <= 0) return BUNDLE_REFRESH_MAX_MS;
  return Math.min(BUNDLE_REFRESH_MAX_MS, Math.max(BUNDLE_REFRESH_MIN_MS, hint * 1000));
}

/**
 * A remote PEP's view of the trust domain's SPIFFE bundle, refetched so a CA rotation reaches it
 * without a restart: the JWT-SVID keys, and the X.509 roots (the configured CA file first) that
 * verify client SVIDs and Warden sidecar upstreams. It is fetched on the bundle's refresh hint,
 * and at once (rate-limited) when a credential names a key or root it does not hold yet. A failed
 * refresh keeps the last good bundle.
 */
export class SpiffeBundleFollower extends EventEmitter<{ x509Changed: [pem: string] }> {
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private inFlight: Promise<void> | null = null;
  private lastFetchStartedAt = 0;

  private constructor(
    private current: SpiffeBundle,
    private x509: string,
    private readonly o: SpiffeBundleFollowerOptions,
  ) {
    super();
  }

  static async start(o: SpiffeBundleFollowerOptions): Promise<SpiffeBundleFollower> {
    let follower: SpiffeBundleFollower;
    const startedAt = Date.now();
    try {
      const first = await fetchBundle(o.controlPlaneUrl, o.caPem);
      follower = new SpiffeBundleFollower(first, x509BundlePem(first, o.caPem), o);
    } catch (err) {
      if (o.required !== false) throw err;
      o.logger.warn({ err: (err as Error).message }, 'no SPIFFE bundle from the control plane yet: trusting the configured CA alone until one arrives');
      follower = new SpiffeBundleFollower({ keys: [], spiffe_sequence: 0, spiffe_refresh_hint: 0 }, o.caPem, o);
    }
    follower.lastFetchStartedAt = startedAt;
    follower.schedule();
    return follower;
  }

  bundle(): SpiffeBundle {
    return this.current;
  }

  /** X.509 roots (PEM): the configured CA file, then the bundle's roots once each. */
  x509Pem(): string {
    return this.x509;
  }

  /**
   * Fetches the bundle now, for a credential that names a JWT key ID or X.509 root this PEP does
   * not hold (a rotation it has not seen yet). Resolves once that fetch is done (never rejects).
   * Rate-limited: within the minimum interval of the last fetch it resolves at once without
   * fetching, so unknown key IDs, forged or not, cost the control plane at most one fetch per
   * interval. Callers compare `bundle()` / `x509Pem()` before and after to decide on a retry.
   */
  refreshNow(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.closed || Date.now() - this.lastFetchStartedAt < (this.o.refetchMinIntervalMs ?? BUNDLE_REFETCH_MIN_INTERVAL_MS)) return Promise.resolve();
    this.o.logger.info('a workload credential names a key or root not in the SPIFFE bundle: fetching the bundle again');
    return this.fetchAndApply();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.removeAllListeners();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.fetchAndApply().finally(() => this.schedule());
    }, this.o.refreshMs ?? refreshIntervalMs(this.current));
    this.timer.unref();
  }

  /** One fetch at a time: the periodic refresh and on-demand refetches share it. */
  private fetchAndApply(): Promise<void> {
    this.inFlight ??= (async () => {
      this.lastFetchStartedAt = Date.now();
      try {
        // Fetched with the roots followed so far: the control plane's certificate may already be under a new one.
        const next = await fetchBundle(this.o.controlPlaneUrl, this.x509);
        this.apply(next, x509BundlePem(next, this.o.caPem));
      } catch (err) {
        if (!this.closed) this.o.logger.warn({ err: (err as Error).message }, 'SPIFFE bundle refresh failed; keeping the last one');
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  /** Both parts come from the same fetch, or neither (x509BundlePem throws on a bad entry before this). */
  private apply(next: SpiffeBundle, pem: string): void {
    // A fetch that was in flight at close() changes nothing any more.
    if (this.closed) return;
    // The same bundle keeps its object: authenticators tell "changed, verify again" by identity.
    if (next.spiffe_sequence !== this.current.spiffe_sequence || JSON.stringify(next) !== JSON.stringify(this.current)) this.current = next;
    if (pem === this.x509) return;
    this.x509 = pem;
    this.o.logger.info({ spiffeSequence: next.spiffe_sequence }, 'X.509 trust anchors updated from the SPIFFE bundle');
    this.emit('x509Changed', pem);
  }
}

async function fetchBundle(url: string, caPem: string): Promise<SpiffeBundle> {
  const agent = new Agent({ connect: { ...controlPlaneTls(caPem), timeout: FETCH_TIMEOUT_MS }, headersTimeout: FETCH_TIMEOUT_MS, bodyTimeout: FETCH_TIMEOUT_MS });
  try {
    const res = await request(`${url}/api/v1/identity/bundle.json`, { dispatcher: agent });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new WardenError('WARDEN_UNAVAILABLE', `control plane answered ${res.statusCode} for the SPIFFE bundle`);
    }
    return (await res.body.json()) as SpiffeBundle;
  } finally {
    await agent.close();
  }
}

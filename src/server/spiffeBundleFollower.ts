import { EventEmitter } from 'node:events';
import { Agent, request } from 'undici';
import { WardenError } from '../errors/index.js';
import { controlPlaneTls, x509BundlePem, type SpiffeBundle } from '../identity/index.js';
import type { Logger } from '../observe/index.js';

export interface SpiffeBundleFollowerOptions {
  controlPlaneUrl: string;
  /** The CA file this gateway was deployed with: verifies the control plane and stays an anchor. */
  caPem: string;
  logger: Logger;
  /** How often the bundle is fetched again (CA rotation). */
  refreshMs?: number;
  /**
   * Whether the start fails without a first bundle (default true: workload credentials need its
   * JWT keys). Otherwise the follower starts from the configured CA alone and keeps trying.
   */
  required?: boolean;
}

/**
 * A remote PEP's view of the trust domain's SPIFFE bundle, refetched so a CA rotation reaches it
 * without a restart: the JWT-SVID keys, and the X.509 roots (the configured CA file first) that
 * verify client SVIDs and Warden sidecar upstreams. A failed refresh keeps the last good bundle.
 */
export class SpiffeBundleFollower extends EventEmitter<{ x509Changed: [pem: string] }> {
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private current: SpiffeBundle,
    private x509: string,
  ) {
    super();
  }

  static async start(o: SpiffeBundleFollowerOptions): Promise<SpiffeBundleFollower> {
    let follower: SpiffeBundleFollower;
    try {
      const first = await fetchBundle(o.controlPlaneUrl, o.caPem);
      follower = new SpiffeBundleFollower(first, x509BundlePem(first, o.caPem));
    } catch (err) {
      if (o.required !== false) throw err;
      o.logger.warn({ err: (err as Error).message }, 'no SPIFFE bundle from the control plane yet: trusting the configured CA alone until one arrives');
      follower = new SpiffeBundleFollower({ keys: [], spiffe_sequence: 0, spiffe_refresh_hint: 0 }, o.caPem);
    }
    follower.timer = setInterval(() => {
      // Fetched with the roots followed so far: the control plane's certificate may already be under a new one.
      fetchBundle(o.controlPlaneUrl, follower.x509)
        .then((next) => follower.apply(next, x509BundlePem(next, o.caPem), o.logger))
        .catch((err: unknown) => o.logger.warn({ err: (err as Error).message }, 'SPIFFE bundle refresh failed; keeping the last one'));
    }, o.refreshMs ?? 300_000);
    follower.timer.unref();
    return follower;
  }

  bundle(): SpiffeBundle {
    return this.current;
  }

  /** X.509 roots (PEM): the configured CA file, then the bundle's roots once each. */
  x509Pem(): string {
    return this.x509;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.removeAllListeners();
  }

  /** Both parts come from the same fetch, or neither (x509BundlePem throws on a bad entry before this). */
  private apply(next: SpiffeBundle, pem: string, logger: Logger): void {
    // A fetch that was in flight at close() changes nothing any more.
    if (this.closed) return;
    this.current = next;
    if (pem === this.x509) return;
    this.x509 = pem;
    logger.info({ spiffeSequence: next.spiffe_sequence }, 'X.509 trust anchors updated from the SPIFFE bundle');
    this.emit('x509Changed', pem);
  }
}

async function fetchBundle(url: string, caPem: string): Promise<SpiffeBundle> {
  const agent = new Agent({ connect: controlPlaneTls(caPem) });
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

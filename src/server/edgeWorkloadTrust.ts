import { IdentityClient, RevocationFeed, RevocationList } from '../identity/index.js';
import type { WorkloadTrust } from '../gateway/index.js';
import type { Logger } from '../observe/index.js';
import { SpiffeBundleFollower } from './spiffeBundleFollower.js';

export interface EdgeWorkloadTrustOptions {
  controlPlaneUrl: string;
  /** Roots that verify the control plane and every SVID of the trust domain. */
  caPem: string;
  trustDomain: string;
  /** This gateway's own SVID: authenticates it on the revocation stream. */
  svid: { chainPem: string; keyPem: string };
  logger: Logger;
  /** How long the gateway keeps accepting workload credentials after the stream drops. */
  maxStaleMs: number;
  /** Fixed SPIFFE bundle refresh interval (tests); default: the bundle's refresh hint, 10 s..5 min. */
  bundleRefreshMs?: number;
  /** A bundle the caller already follows (and closes); otherwise one is started here. */
  bundle?: SpiffeBundleFollower;
}

export interface EdgeWorkloadTrust {
  trust: WorkloadTrust;
  /** The SPIFFE bundle it follows (shared with the gateway's upstream mTLS). */
  bundle: SpiffeBundleFollower;
  /** Follows the gateway's SVID renewals. */
  setSvid(svid: { chainPem: string; keyPem: string }): void;
  close(): Promise<void>;
}

/**
 * The trust a remote `warden gateway` needs to accept workload credentials (client SVIDs and
 * JWT-SVIDs) the way `warden up` does in-process: the SPIFFE bundle (JWT-SVID keys; its X.509
 * roots with the configured CA file verify client SVIDs), refreshed so CA rotations reach the
 * gateway, and a revocation list kept current by the control plane's stream (authenticated with
 * the gateway's own SVID). Fails closed: workload credentials are refused while the stream is
 * down longer than `maxStaleMs`, so a revocation can never be missed silently. A failed refresh
 * keeps the last good bundle.
 */
export async function startEdgeWorkloadTrust(o: EdgeWorkloadTrustOptions): Promise<EdgeWorkloadTrust> {
  // The configured CA stays an anchor: it is what this gateway was deployed to trust, and the
  // control plane drops a root from the bundle only once it has expired (refused then anyway).
  const bundle = o.bundle ?? (await SpiffeBundleFollower.start({ controlPlaneUrl: o.controlPlaneUrl, caPem: o.caPem, logger: o.logger, refreshMs: o.bundleRefreshMs }));
  let svid = o.svid;
  const client = new IdentityClient(o.controlPlaneUrl, { bundlePem: bundle.x509Pem(), ...svid });
  // The revocation stream reaches the control plane with the followed roots, like every other call.
  bundle.on('x509Changed', (pem) => client.setCredentials({ bundlePem: pem, ...svid }));
  const revocations = new RevocationList();
  const feed = new RevocationFeed(client, revocations);
  feed.on('connected', () => o.logger.info('revocation stream connected'));
  feed.on('disconnected', () => o.logger.warn('revocation stream lost; reconnecting'));
  feed.on('feedError', (err: unknown) => o.logger.warn({ err: (err as Error).message }, 'revocation stream error'));
  const connected = new Promise<boolean>((resolve) => {
    feed.once('connected', () => resolve(true));
    setTimeout(() => resolve(false), 10_000).unref();
  });
  feed.start();
  if (!(await connected)) o.logger.error('no revocation list from the control plane yet: workload credentials are refused, and sidecar upstreams are checked against no revocation, until it arrives');
  return {
    trust: {
      trustDomain: o.trustDomain,
      bundle: () => bundle.bundle(),
      bundlePem: () => bundle.x509Pem(),
      revocations,
      revocationsFresh: () => feed.isFresh(o.maxStaleMs),
      refreshBundle: () => bundle.refreshNow(),
    },
    bundle,
    setSvid: (next) => {
      svid = next;
      client.setCredentials({ bundlePem: bundle.x509Pem(), ...next });
    },
    async close() {
      if (!o.bundle) bundle.close();
      feed.stop();
      await client.close();
    },
  };
}

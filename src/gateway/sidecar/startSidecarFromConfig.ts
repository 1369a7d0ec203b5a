import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LoadedConfig } from '../../config/index.js';
import type { Authorizer } from '../../policy/index.js';
import type { AuditLog } from '../../audit/index.js';
import { WardenError } from '../../errors/index.js';
import { FileSvidSource, IdentityClient, RevocationFeed, RevocationList, type SvidMaterial } from '../../identity/index.js';
import { AllowListAuthorizer } from './AllowListAuthorizer.js';
import { startSidecar, type Sidecar } from './startSidecar.js';

export interface SidecarFromConfigOptions {
  config: LoadedConfig;
  /** Control plane URL for the revocation stream (default <data-dir>/server.json, then the config). */
  serverUrl?: string;
  /** Segmentation; default: AllowListAuthorizer over identity.sidecar.allow. The Cedar engine plugs in here. */
  authorizer?: Authorizer;
  audit?: AuditLog;
  /** Called when the revocation stream drops or reconnects (for logs/metrics). */
  onFeedEvent?: (event: 'connected' | 'disconnected' | 'error', detail?: unknown) => void;
}

/** How long start-up waits for the revocation stream's first snapshot before serving 503s. */
const FIRST_SNAPSHOT_WAIT_MS = 5_000;

/**
 * Wires a sidecar from warden.yaml: SVID files written by `warden agent` (identity.sidecar.svidDir),
 * the control plane's revocation stream (authenticated with that SVID, following rotations),
 * and the allow-list segmentation from identity.sidecar.allow.
 */
export async function startSidecarFromConfig(o: SidecarFromConfigOptions): Promise<Sidecar & { revocations: RevocationList }> {
  const sc = o.config.identity.sidecar;
  if (!sc.svidDir) throw new WardenError('WARDEN_CONFIG_INVALID', 'identity.sidecar.svidDir must point at the directory `warden agent --out` writes');
  const svidDir = resolve(sc.svidDir);
  const identity = new FileSvidSource(svidDir);
  const first = identity.current();
  if (!first) throw new WardenError('WARDEN_IDENTITY_AGENT_NOT_READY', `the SVID in ${svidDir} has expired`);
  let serverUrl = o.serverUrl;
  const serverFile = join(o.config.dataDir, 'server.json');
  if (!serverUrl && existsSync(serverFile)) {
    try {
      serverUrl = (JSON.parse(readFileSync(serverFile, 'utf8')) as { adminUrl?: string }).adminUrl;
    } catch {
      /* fall back */
    }
  }
  serverUrl ??= `https://${o.config.server.host}:${o.config.server.port}`;
  const creds = (s: SvidMaterial) => ({ bundlePem: s.bundlePem, chainPem: s.chainPem, keyPem: s.keyPem });
  const client = new IdentityClient(serverUrl, creds(first));
  identity.on('rotated', (s: SvidMaterial) => client.setCredentials(creds(s)));
  const revocations = new RevocationList();
  const feed = new RevocationFeed(client, revocations);
  feed.on('connected', () => o.onFeedEvent?.('connected'));
  feed.on('disconnected', () => o.onFeedEvent?.('disconnected'));
  feed.on('feedError', (err: unknown) => o.onFeedEvent?.('error', err));
  // Serve with a current revocation list; if the control plane is not reachable yet the sidecar
  // still starts, but fails closed (503) until the stream delivers its first snapshot. The wait
  // holds the process (a ref'd timer): the feed's retries do not, and nothing else listens yet.
  let waiting: NodeJS.Timeout | undefined;
  const firstSnapshot = new Promise<void>((resolve) => {
    feed.once('connected', () => resolve());
    waiting = setTimeout(resolve, FIRST_SNAPSHOT_WAIT_MS);
  });
  feed.start();
  await firstSnapshot;
  clearTimeout(waiting);
  const authorizer = o.authorizer ?? new AllowListAuthorizer(sc.allow);
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar({
      trustDomain: o.config.server.trustDomain,
      identity,
      revocations,
      authorizer,
      host: sc.host,
      port: sc.port,
      upstreamUrl: sc.upstreamUrl,
      outboundPort: sc.outbound.length ? sc.outboundPort : undefined,
      outbound: sc.outbound,
      environment: sc.environment || undefined,
      clockSkewSeconds: o.config.identity.clockSkewSeconds,
      revocationsFresh: () => feed.isFresh(sc.revocationMaxStaleSeconds * 1000),
      audit: o.audit,
    });
  } catch (err) {
    feed.stop();
    identity.close();
    await client.close();
    throw err;
  }
  return {
    ...sidecar,
    stats: sidecar.stats,
    revocations,
    async close() {
      feed.stop();
      identity.close();
      await sidecar.close();
      await client.close();
    },
  };
}

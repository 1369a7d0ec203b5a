import type { TLSSocket } from 'node:tls';
import { WardenError } from '../errors/index.js';
import type { RevocationList, VerifiedSvid } from '../identity/index.js';
import type { Logger } from '../observe/index.js';

/** The X.509-SVID an upstream presented (verified path): what a revocation can name. */
export type UpstreamPeer = Pick<VerifiedSvid, 'spiffeId' | 'serial' | 'issuerSerials'>;

/** A refused upstream is logged at most this often per SPIFFE ID (every new connection attempt is refused). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Revocation applied to the gateway's own side of upstream mTLS: a Warden sidecar (model server)
 * whose SVID, or an intermediate that issued it, is revoked gets no new connection, and the open
 * ones are closed as soon as the revocation list changes (docs/identity.md: revocable fleet-wide
 * in seconds). Otherwise prompts would keep flowing to a compromised model server over keep-alive
 * connections that were verified before. Checks the list as it is: a remote gateway whose
 * revocation stream is down keeps its last list (docs/gateway-auth-and-limits.md).
 */
export class UpstreamPeers<P extends UpstreamPeer = UpstreamPeer> {
  private readonly open = new Map<TLSSocket, P>();
  private readonly lastLogged = new Map<string, number>();
  private readonly onChange = (): void => this.enforce();

  constructor(
    private readonly revocations: RevocationList,
    private readonly logger: Logger | null = null,
  ) {
    revocations.on('change', this.onChange);
  }

  /** The refusal for a peer that is revoked now (logged), or null. */
  refusal(peer: UpstreamPeer): WardenError | null {
    if (!this.revocations.revokesSvid(peer.spiffeId, peer.serial, peer.issuerSerials)) return null;
    const now = Date.now();
    if ((this.lastLogged.get(peer.spiffeId) ?? -Infinity) + REFUSAL_LOG_INTERVAL_MS <= now) {
      this.lastLogged.set(peer.spiffeId, now);
      this.logger?.warn({ upstreamSpiffeId: peer.spiffeId, serial: peer.serial }, 'refused a connection to an upstream whose SVID (or an intermediate that issued it) is revoked');
    }
    return new WardenError('WARDEN_IDENTITY_REVOKED', `the upstream's SVID (${peer.spiffeId}, serial ${peer.serial}) or a certificate that issued it is revoked`);
  }

  /** Follows a connection until it closes. */
  track(socket: TLSSocket, peer: P): void {
    this.open.set(socket, peer);
    socket.once('close', () => this.open.delete(socket));
  }

  /** The verified peer of a followed connection (undefined once it closed or was never verified). */
  peerOf(socket: TLSSocket): P | undefined {
    return this.open.get(socket);
  }

  /** Stops following the revocation list (pools closed). */
  close(): void {
    this.revocations.off('change', this.onChange);
    this.open.clear();
  }

  private enforce(): void {
    for (const [socket, peer] of this.open) {
      if (!this.revocations.revokesSvid(peer.spiffeId, peer.serial, peer.issuerSerials)) continue;
      this.open.delete(socket);
      this.logger?.warn({ upstreamSpiffeId: peer.spiffeId, serial: peer.serial }, 'closed a connection to an upstream whose SVID was revoked');
      // A plain error: a request in flight on it fails like an upstream that broke off (502, or
      // a cut stream); a WardenError would read as the gateway's own refusal of the client.
      socket.destroy(new Error('the upstream connection was closed: its SVID was revoked'));
    }
  }
}

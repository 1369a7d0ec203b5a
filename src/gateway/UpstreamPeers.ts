import type { PeerCertificate, TLSSocket } from 'node:tls';
import { WardenError } from '../errors/index.js';
import type { RevocationList } from '../identity/index.js';

/** The X.509-SVID an upstream presented: what a revocation can name. */
export interface UpstreamPeer {
  spiffeId: string;
  serial: string;
  /** Serials of the certificates above the leaf on the verified path (intermediates, root). */
  issuerSerials: string[];
}

/** The peer of a verified handshake: Node hands checkServerIdentity the detailed certificate, its issuers linked. */
export function upstreamPeerOf(spiffeId: string, cert: PeerCertificate): UpstreamPeer {
  const issuerSerials: string[] = [];
  let current = cert as Partial<{ issuerCertificate: PeerCertificate; serialNumber: string }>;
  // A self-signed root links to itself; the depth bound also stops a malformed loop.
  for (let depth = 0; depth < 8; depth++) {
    const issuer = current.issuerCertificate;
    if (!issuer || issuer === current) break;
    if (issuer.serialNumber) issuerSerials.push(issuer.serialNumber);
    current = issuer;
  }
  return { spiffeId, serial: cert.serialNumber, issuerSerials };
}

/**
 * Revocation applied to the gateway's own side of upstream mTLS: a Warden sidecar (model server)
 * whose SVID, or an intermediate that issued it, is revoked gets no new connection, and the open
 * ones are closed as soon as the revocation list changes (docs/identity.md: revocable fleet-wide
 * in seconds). Otherwise prompts would keep flowing to a compromised model server over keep-alive
 * connections that were verified before.
 */
export class UpstreamPeers {
  private readonly open = new Map<TLSSocket, UpstreamPeer>();
  private readonly onChange = (): void => this.enforce();

  constructor(private readonly revocations: RevocationList) {
    revocations.on('change', this.onChange);
  }

  /** The refusal for a peer that is revoked now, or null. */
  refusal(peer: UpstreamPeer): WardenError | null {
    if (!this.revocations.revokesSvid(peer.spiffeId, peer.serial, peer.issuerSerials)) return null;
    return new WardenError('WARDEN_IDENTITY_REVOKED', `the upstream's SVID (${peer.spiffeId}, serial ${peer.serial}) or a certificate that issued it is revoked`);
  }

  /** Follows a connection until it closes. */
  track(socket: TLSSocket, peer: UpstreamPeer): void {
    this.open.set(socket, peer);
    socket.once('close', () => this.open.delete(socket));
  }

  /** Stops following the revocation list (pools closed). */
  close(): void {
    this.revocations.off('change', this.onChange);
    this.open.clear();
  }

  /** Open connections (tests). */
  get size(): number {
    return this.open.size;
  }

  private enforce(): void {
    for (const [socket, peer] of this.open) {
      const refusal = this.refusal(peer);
      if (!refusal) continue;
      this.open.delete(socket);
      // The request in flight on it fails like an upstream that broke off (502, or a cut stream).
      socket.destroy(refusal);
    }
  }
}

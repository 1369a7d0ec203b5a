import type { TLSSocket } from 'node:tls';
import type { GatewayRequest } from '../RequestContext.js';
import { WardenError, isWardenError } from '../../errors/index.js';
import { verifyPeerSvid, TrustBundle, type RevocationList } from '../../identity/index.js';
import type { Principal } from '../RequestContext.js';

export interface MtlsAuthenticatorOptions {
  trustDomain: string;
  /** Current trust bundle (PEM roots); parsed again only when it changes. */
  bundlePem: () => string;
  revocations: RevocationList | null;
  /** False when the revocation list may be out of date (remote PEP lost its stream): fail closed. */
  revocationsFresh?: () => boolean;
  /** Remote PEPs: fetch the bundle again now (rate-limited by the caller), see retryAfterBundleRefresh. */
  refreshBundle?: () => Promise<void>;
  clockSkewSeconds?: number;
  now?: () => number;
}

interface Verified {
  principal: Principal;
  notAfter: number;
  bundle: TrustBundle;
}

/**
 * The TLS connection a request arrived on. For HTTP/2, `req.socket` is a per-stream proxy, so
 * the session's socket is used: one connection, one cache entry, whatever the protocol.
 */
export function tlsSocketOf(req: GatewayRequest): TLSSocket | null {
  const session = 'stream' in req ? req.stream.session : undefined;
  // http2's session.socket is a stable proxy of the TLSSocket (one per session), usable as a key.
  const socket = (session ? session.socket : req.socket) as TLSSocket | undefined;
  return socket && socket.encrypted === true ? socket : null;
}

function tlsHasPeerCertificate(socket: TLSSocket): boolean {
  return typeof socket.getPeerCertificate === 'function' && !!socket.getPeerCertificate()?.raw;
}

/**
 * X.509-SVID client certificates (mTLS). The chain is verified once per TLS connection with
 * `verifyPeerSvid` (SPIFFE X.509-SVID rules); later requests on the same keep-alive connection
 * re-check only expiry, revocation and bundle changes, which are O(1).
 */
export class MtlsAuthenticator {
  private readonly perSocket = new WeakMap<TLSSocket, Verified>();
  private bundle: TrustBundle | null = null;

  constructor(private readonly o: MtlsAuthenticatorOptions) {}

  private currentBundle(): TrustBundle {
    const pem = this.o.bundlePem();
    if (this.bundle?.pem !== pem) this.bundle = new TrustBundle(pem);
    return this.bundle;
  }

  /** `authenticate` for the connection of `req` (HTTP/1.1 or HTTP/2); null on plain HTTP. */
  authenticateRequest(req: GatewayRequest): Principal | null {
    const socket = tlsSocketOf(req);
    return socket ? this.authenticate(socket) : null;
  }

  /**
   * For a request `authenticateRequest` refused with `err`: a chain to a root this PEP does not
   * hold may be a CA rotation that has not reached it yet, so the bundle is fetched again (the
   * caller rate-limits that) and, if it changed, the chain verified once more. Anything else, or
   * an unchanged bundle, rethrows `err`: fail closed. Off the hot path: only refusals get here.
   */
  async retryAfterBundleRefresh(req: GatewayRequest, err: unknown): Promise<Principal | null> {
    if (!this.o.refreshBundle || !isWardenError(err) || err.code !== 'WARDEN_IDENTITY_SVID_UNTRUSTED') throw err;
    const pem = this.o.bundlePem();
    await this.o.refreshBundle();
    if (this.o.bundlePem() === pem) throw err;
    return this.authenticateRequest(req);
  }

  /**
   * The principal of the client certificate on `socket`, or null when none was presented
   * (another credential may then apply). A presented but invalid certificate throws.
   */
  authenticate(socket: TLSSocket): Principal | null {
    const now = this.o.now?.() ?? Date.now();
    if (this.o.revocationsFresh && !this.o.revocationsFresh() && tlsHasPeerCertificate(socket)) {
      throw new WardenError('WARDEN_GATEWAY_REVOCATIONS_STALE', 'client certificates are refused until the revocation list is current again');
    }
    const bundle = this.currentBundle();
    const cached = this.perSocket.get(socket);
    if (cached && cached.bundle === bundle) {
      const skew = (this.o.clockSkewSeconds ?? 30) * 1000;
      if (cached.notAfter + skew < now) throw new WardenError('WARDEN_IDENTITY_SVID_EXPIRED', `the SVID of ${cached.principal.id} expired during the connection`);
      if (this.o.revocations?.revokesSvid(cached.principal.id, cached.principal.serial, cached.principal.issuerSerials)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${cached.principal.id} has been revoked`);
      return cached.principal;
    }
    if (typeof socket.getPeerCertificate !== 'function') return null;
    const peer = socket.getPeerCertificate(true);
    if (!peer || !peer.raw) return null;
    const v = verifyPeerSvid(peer, bundle, this.o.revocations, this.o.trustDomain, { now: new Date(now), clockSkewSeconds: this.o.clockSkewSeconds ?? 30 });
    const principal: Principal = { entity: { type: 'Service', id: v.spiffeId }, id: v.spiffeId, method: 'mtls', parents: [], serial: v.serial, issuerSerials: v.issuerSerials };
    this.perSocket.set(socket, { principal, notAfter: v.notAfter.getTime(), bundle });
    return principal;
  }
}

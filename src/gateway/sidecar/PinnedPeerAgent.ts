import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WardenError } from '../../errors/index.js';
import { verifyPeerSvid, type SvidMaterial, type TrustBundle, type VerifiedSvid } from '../../identity/index.js';
import type { UpstreamPeers } from '../UpstreamPeers.js';

export interface PinnedPeer {
  /** The SPIFFE ID the remote must present. */
  spiffeId: string;
  trustDomain: string;
  clockSkewSeconds: number;
}

/**
 * Keep-alive agent for one outbound route: mutual TLS with the workload's SVID, and the remote
 * verified by its SPIFFE ID (verifyPeerSvid: chain to the bundle, SPIFFE rules, revocation list)
 * before the socket is handed to any request. One agent per route, because node:https pools
 * connections by host:port: a connection verified for one expected peer must never carry a
 * request meant for another. Every socket's verified peer is followed by `peers` (closed when a
 * revocation names it) and checked again by `refusal` each time a request gets the socket.
 * No TLS session cache: Node skips checkServerIdentity on a resumed session.
 */
export class PinnedPeerAgent extends HttpsAgent {
  constructor(
    private readonly svid: SvidMaterial,
    private readonly bundle: () => TrustBundle,
    private readonly expected: PinnedPeer,
    private readonly peers: UpstreamPeers<VerifiedSvid>,
  ) {
    super({ keepAlive: true, maxSockets: 256, maxCachedSessions: 0 });
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    let verified: VerifiedSvid | null = null;
    const socket = tlsConnect({
      host: options.host ?? undefined,
      port: Number(options.port) || 443,
      servername: typeof options.servername === 'string' ? options.servername : undefined,
      cert: this.svid.chainPem,
      key: this.svid.keyPem,
      ca: this.svid.bundlePem,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
      // Identity is the SPIFFE ID, not the host name.
      checkServerIdentity: (_host, cert) => {
        try {
          verified = this.verify(cert as Parameters<typeof verifyPeerSvid>[0]);
          return undefined;
        } catch (err) {
          return err as Error;
        }
      },
    });
    const onError = (err: Error): void => callback?.(err, socket);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      if (!verified) {
        // A resumed session skips checkServerIdentity: verify what the socket holds, or refuse it.
        try {
          verified = this.verify(socket.getPeerCertificate(true) as Parameters<typeof verifyPeerSvid>[0]);
        } catch (err) {
          socket.destroy();
          callback?.(err as Error, socket);
          return;
        }
      }
      this.peers.track(socket, verified);
      // A revocation that arrived during the handshake.
      const refusal = this.refusal(socket);
      if (refusal) {
        socket.destroy();
        callback?.(refusal, socket);
        return;
      }
      callback?.(null, socket);
    });
    return undefined;
  }

  /** Why `socket` may not carry a request to this route now (its verified peer, revoked, expired), or null. */
  refusal(socket: TLSSocket): WardenError | null {
    const peer = this.peers.peerOf(socket);
    if (!peer) return new WardenError('WARDEN_IDENTITY_SVID_MISSING', 'the remote service was not verified on this connection', { status: 502 });
    if (peer.spiffeId !== this.expected.spiffeId) return new WardenError('WARDEN_IDENTITY_PEER_MISMATCH', `expected ${this.expected.spiffeId}, got ${peer.spiffeId}`);
    const revoked = this.peers.refusal(peer);
    if (revoked) return new WardenError('WARDEN_IDENTITY_REVOKED', revoked.message, { status: 502 });
    if (Date.now() > peer.notAfter.getTime() + this.expected.clockSkewSeconds * 1000) {
      return new WardenError('WARDEN_IDENTITY_SVID_EXPIRED', `the SVID of ${peer.spiffeId} has expired`, { status: 502 });
    }
    return null;
  }

  private verify(cert: Parameters<typeof verifyPeerSvid>[0]): VerifiedSvid {
    // Revocation is checked by refusal() on the tracked peer, so the verdict is the same on every path.
    const who = verifyPeerSvid(cert, this.bundle(), null, this.expected.trustDomain, { clockSkewSeconds: this.expected.clockSkewSeconds });
    if (who.spiffeId !== this.expected.spiffeId) throw new WardenError('WARDEN_IDENTITY_PEER_MISMATCH', `expected ${this.expected.spiffeId}, got ${who.spiffeId}`);
    return who;
  }
}

import { connect as tlsConnect } from 'node:tls';
import { errors as undiciErrors, type buildConnector } from 'undici';
import { WardenError } from '../errors/index.js';
import { verifyPeerSvid, type VerifiedSvid } from '../identity/index.js';
import type { UpstreamPeers } from './UpstreamPeers.js';

/** The gateway's own X.509-SVID, read on every new upstream connection (so renewals apply at once). */
export interface GatewaySvidSource {
  current(): { chainPem: string; keyPem: string; bundlePem: string } | null;
}

/**
 * undici connector for a Warden sidecar (or any SPIFFE workload) upstream: mutual TLS with the
 * gateway's SVID as client certificate, the trust bundle as the only roots, TLS 1.2+, and the
 * server's identity checked by its SPIFFE ID instead of a DNS name (verifyPeerSvid: the path to
 * the bundle built and every signature on it checked), and against the revocation list when
 * `peers` is given (which also closes the connection if it is revoked later). Hand-written
 * because undici's connector takes fixed key material and checks DNS names; SVIDs rotate and
 * carry URI SANs.
 */
export function spiffeMtlsConnector(
  svid: GatewaySvidSource,
  expected: { spiffeId: string | null; trustDomain: string },
  connectTimeoutMs: number,
  peers: UpstreamPeers | null = null,
): buildConnector.connector {
  return (options, callback) => {
    const material = svid.current();
    if (!material) {
      callback(new WardenError('WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', 'the gateway has no SVID for mTLS to its upstream'), null);
      return;
    }
    let peer: VerifiedSvid | null = null;
    const socket = tlsConnect({
      host: options.hostname,
      port: Number(options.port) || 443,
      servername: options.servername ?? undefined,
      cert: material.chainPem,
      key: material.keyPem,
      ca: material.bundlePem,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
      checkServerIdentity: (_host, cert) => {
        // Not Node's issuerCertificate links for the revocation check: they pair certificates by
        // name, unverified, so a decoy in the presented chain could hide a revoked intermediate.
        let who: VerifiedSvid;
        try {
          who = verifyPeerSvid(cert, material.bundlePem, null, expected.trustDomain);
        } catch (err) {
          return err as Error;
        }
        if (expected.spiffeId !== null && who.spiffeId !== expected.spiffeId) {
          return new Error(`the upstream presented ${who.spiffeId}, expected ${expected.spiffeId}`);
        }
        peer = who;
        return peers?.refusal(who) ?? undefined;
      },
    });
    socket.setNoDelay(true);
    // undici applies connectTimeout only to connectors it builds; an upstream that accepts TCP but
    // never finishes the handshake would otherwise hold the request (and shutdown) forever.
    socket.setTimeout(connectTimeoutMs, () => socket.destroy(new undiciErrors.ConnectTimeoutError()));
    const onError = (err: Error): void => callback(err, null);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.setTimeout(0);
      socket.off('error', onError);
      // Never an unverified peer (checkServerIdentity is skipped on a resumed session), and a
      // revocation that arrived during the handshake is checked again before the socket is used.
      const refusal = peer ? (peers?.refusal(peer) ?? null) : new WardenError('WARDEN_IDENTITY_SVID_MISSING', 'the upstream was not verified');
      if (refusal) {
        socket.destroy();
        callback(refusal, null);
        return;
      }
      peers?.track(socket, peer!);
      callback(null, socket);
    });
  };
}

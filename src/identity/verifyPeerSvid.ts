import { X509Certificate, constants } from 'node:crypto';
import type { PeerCertificate, DetailedPeerCertificate } from 'node:tls';
import { WardenError } from '../errors/index.js';
import { readCertificateExtensions, type SvidExtensions } from './readCertificateExtensions.js';
import { parseSpiffeId } from './SpiffeId.js';
import type { RevocationList } from './RevocationList.js';
import { nodeCertificatesFromPem, normalizeSerial } from './x509.js';

export interface VerifiedSvid {
  spiffeId: string;
  /** Leaf serial, lowercase hex without leading zeros. */
  serial: string;
  /** Serials of the intermediates on the verified path, same form: revoking one revokes the leaf. */
  issuerSerials: string[];
  notAfter: Date;
  /** Set by verifyPeerSvid; absent where a caller builds one by hand. */
  notBefore?: Date;
}

export type PeerCertificateInput = PeerCertificate | DetailedPeerCertificate | Buffer | string | X509Certificate[];

/** Parsed trust bundle; parse once and reuse (PEPs verify every new connection against it). */
export class TrustBundle {
  readonly roots: X509Certificate[];
  constructor(readonly pem: string) {
    this.roots = nodeCertificatesFromPem(pem);
    if (this.roots.length === 0) throw new WardenError('WARDEN_IDENTITY_SVID_UNTRUSTED', 'the trust bundle holds no certificates');
  }
}

let lastBundle: TrustBundle | null = null;
function toBundle(b: string | TrustBundle): TrustBundle {
  if (typeof b !== 'string') return b;
  if (lastBundle?.pem !== b) lastBundle = new TrustBundle(b);
  return lastBundle;
}

function chainOf(peer: PeerCertificateInput): X509Certificate[] {
  if (Array.isArray(peer)) return peer;
  if (typeof peer === 'string') return nodeCertificatesFromPem(peer);
  if (Buffer.isBuffer(peer)) return [new X509Certificate(peer)];
  const out: X509Certificate[] = [];
  let node: PeerCertificate | DetailedPeerCertificate | undefined = peer;
  const seen = new Set<string>();
  while (node && node.raw && !seen.has(node.fingerprint256)) {
    seen.add(node.fingerprint256);
    out.push(new X509Certificate(node.raw));
    node = (node as DetailedPeerCertificate).issuerCertificate;
  }
  return out;
}

/**
 * Verifies a peer's X.509-SVID per the SPIFFE X.509-SVID spec (§4, §5): exactly one URI SAN
 * holding a SPIFFE ID, not a CA, digitalSignature key usage without keyCertSign/cRLSign, valid
 * now (± clock skew), chaining to the bundle through CA intermediates, then in `trustDomain`,
 * and neither its SPIFFE ID nor any serial on the chain revoked.
 */
/**
 * TLS server options for listeners that verify client SVIDs with verifyPeerSvid: no session
 * resumption. A resumed session gives the server the client's leaf but not the chain it sent, so
 * every reconnecting client (undici, curl, Python keep a session cache) would fail verification.
 */
export const CLIENT_SVID_SERVER_TLS = Object.freeze({ secureOptions: constants.SSL_OP_NO_TICKET });

export function verifyPeerSvid(
  peerCert: PeerCertificateInput | null | undefined,
  bundle: string | TrustBundle,
  revocations: RevocationList | null,
  trustDomain: string,
  options: { now?: Date; clockSkewSeconds?: number } = {},
): VerifiedSvid {
  if (!peerCert || (typeof peerCert === 'object' && !Array.isArray(peerCert) && !Buffer.isBuffer(peerCert) && !('raw' in peerCert && peerCert.raw))) {
    throw new WardenError('WARDEN_IDENTITY_SVID_MISSING', 'no client certificate was presented');
  }
  let chain: X509Certificate[];
  try {
    chain = chainOf(peerCert);
  } catch (cause) {
    throw new WardenError('WARDEN_IDENTITY_SVID_INVALID', 'the presented certificate cannot be parsed', { cause });
  }
  const leaf = chain[0];
  if (!leaf) throw new WardenError('WARDEN_IDENTITY_SVID_MISSING', 'no client certificate was presented');
  const now = (options.now ?? new Date()).getTime();
  const skew = (options.clockSkewSeconds ?? 30) * 1000;

  const spiffeId = checkLeafShape(leaf);
  const serial = normalizeSerial(leaf.serialNumber);
  checkTime(leaf, now, skew);

  // Path building: leaf → (intermediates presented by the peer) → a root of the bundle.
  const roots = toBundle(bundle).roots;
  let current = leaf;
  const intermediates = chain.slice(1);
  const used: X509Certificate[] = [];
  for (let depth = 0; depth < 4; depth++) {
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) {
      checkTime(root, now, skew, true);
      // Only after the chain: an unauthenticated peer must not learn which trust domain is configured.
      if (parseSpiffeId(spiffeId).trustDomain !== trustDomain) {
        throw new WardenError('WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH', `peer ${spiffeId} is not in trust domain ${trustDomain}`);
      }
      if (revocations) {
        if (revocations.isRevoked(spiffeId, serial)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${spiffeId} (serial ${serial}) is revoked`);
        for (const i of used) if (revocations.hasSerial(i.serialNumber)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `an issuing certificate of ${spiffeId} is revoked`);
      }
      return { spiffeId, serial, issuerSerials: used.map((i) => normalizeSerial(i.serialNumber)), notAfter: new Date(leaf.validTo), notBefore: new Date(leaf.validFrom) };
    }
    const next = intermediates.find((c) => !used.includes(c) && c !== current && c.ca && current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) break;
    checkTime(next, now, skew, true);
    used.push(next);
    current = next;
  }
  throw new WardenError('WARDEN_IDENTITY_SVID_UNTRUSTED', `the certificate of ${spiffeId} does not chain to the trust bundle`);
}

function checkTime(c: X509Certificate, now: number, skew: number, issuer = false): void {
  if (Date.parse(c.validTo) + skew < now) {
    throw new WardenError(issuer ? 'WARDEN_IDENTITY_SVID_UNTRUSTED' : 'WARDEN_IDENTITY_SVID_EXPIRED', issuer ? 'an issuing certificate has expired' : `the SVID expired at ${new Date(c.validTo).toISOString()}`);
  }
  if (Date.parse(c.validFrom) - skew > now) {
    throw new WardenError(issuer ? 'WARDEN_IDENTITY_SVID_UNTRUSTED' : 'WARDEN_IDENTITY_SVID_NOT_YET_VALID', issuer ? 'an issuing certificate is not valid yet' : `the SVID is valid only from ${new Date(c.validFrom).toISOString()}`);
  }
}

/** SPIFFE X.509-SVID §4: returns the one SPIFFE ID or throws WARDEN_IDENTITY_SVID_INVALID. */
export function checkLeafShape(leaf: X509Certificate): string {
  const invalid = (why: string): never => {
    throw new WardenError('WARDEN_IDENTITY_SVID_INVALID', `not a valid X.509-SVID: ${why}`);
  };
  if (leaf.ca) invalid('a leaf SVID must not be a CA certificate');
  let ext: SvidExtensions;
  try {
    ext = readCertificateExtensions(leaf.raw);
  } catch (cause) {
    throw new WardenError('WARDEN_IDENTITY_SVID_INVALID', 'not a valid X.509-SVID: extensions cannot be parsed', { cause });
  }
  const uris = ext.uris;
  if (uris.length !== 1) invalid(`expected exactly one URI SAN, found ${uris.length}`);
  if (!ext.keyUsage?.digitalSignature) invalid('key usage must include digitalSignature');
  if (ext.keyUsage!.keyCertSign || ext.keyUsage!.cRLSign) invalid('a leaf SVID must not have keyCertSign or cRLSign');
  if (ext.basicConstraintsCa) invalid('a leaf SVID must not be a CA certificate');
  try {
    return parseSpiffeId(uris[0]!).id;
  } catch (cause) {
    throw new WardenError('WARDEN_IDENTITY_SVID_INVALID', `not a valid X.509-SVID: URI SAN is not a SPIFFE ID`, { cause });
  }
}

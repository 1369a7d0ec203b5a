import type { X509Svid, JwtSvid, SpiffeBundle, ServerCertificate, CaGenerationInfo } from './types.js';
import type { RevocationList } from './RevocationList.js';
import type { IssuedSvidRecord } from './IssuedSvidRepository.js';

export type IssuedSvidRecordWithTime = IssuedSvidRecord & { issuedAt: Date };

/**
 * The trust domain's certificate authority: an offline-style root and an online intermediate
 * per generation, kept under <dataDir>/ca/. Rotation keeps old roots in the bundle until
 * they expire, so workloads holding the old bundle keep verifying during the overlap.
 */
export interface CertificateAuthority {
  readonly trustDomain: string;
  /** spiffe://<trustDomain> */
  readonly trustDomainId: string;
  /** All roots that are still valid (PEM), also written to <dataDir>/bundle.pem (0644). */
  bundlePem(): string;
  /** Certificate of the issuing intermediate (PEM). */
  intermediatePem(): string;
  /**
   * Intermediates of every generation still in the bundle (PEM), to complete peer chains: each
   * one's current intermediate and those a renewal replaced that have not expired (their SVIDs
   * stay valid until they expire; a revoked one is refused by the verifier's revocation check).
   */
  intermediatesPem(): string;
  /** SPIFFE bundle (JWKS with x509-svid and jwt-svid keys), see the SPIFFE Trust Domain and Bundle spec. */
  jwks(): SpiffeBundle;
  /** A TLS server certificate for Warden's own listeners (key generated here, never persisted by the CA). */
  issueServerCertificate(o: { dnsNames: string[]; ipAddresses: string[]; ttlSeconds?: number; spiffeId?: string }): Promise<ServerCertificate>;
  /**
   * Issues an X.509-SVID for the public key in a PKCS#10 CSR (PEM or DER); the private key never
   * leaves the workload. `root: 'oldest'` (listener certificates): signed under the oldest root
   * that has been active and whose intermediate outlives the certificate, so clients holding a
   * bundle from before a rotation keep verifying it during the overlap; default the active root.
   */
  issueX509SvidFromCsr(csr: string | Uint8Array, o: { spiffeId: string; ttlSeconds?: number; dnsNames?: string[]; root?: 'active' | 'oldest' }): Promise<X509Svid>;
  /**
   * Signs a JWT-SVID (ES256 by default) with `sub` = SPIFFE ID. `svidSerial`: the X.509-SVID the
   * workload minted it with, carried in JWT_SVID_SERIAL_CLAIM so revoking that serial revokes the JWT.
   */
  issueJwtSvid(o: { spiffeId: string; audience: string | string[]; ttlSeconds?: number; now?: Date; svidSerial?: string }): Promise<JwtSvid>;
  /** Revocation list shared by the control plane, PEPs and agents. */
  readonly revocations: RevocationList;
  /** Revokes every SVID of a SPIFFE ID, or one certificate by serial. */
  revoke(target: { spiffeId?: string; serial?: string; reason?: string; by?: string }): Promise<void>;
  /** DER CRL signed by the active intermediate, for third-party verifiers. */
  crl(): Promise<{ der: Uint8Array; pem: string }>;
  /** Prepares a new root (published in the bundle) and activates it for issuance unless `prepareOnly`. */
  rotate(o?: { prepareOnly?: boolean }): Promise<CaGenerationInfo[]>;
  generations(): CaGenerationInfo[];
  /** Issued certificates with their validity (empty without a database). */
  listIssued(o?: { spiffeId?: string; includeExpired?: boolean; limit?: number }): Promise<IssuedSvidRecordWithTime[]>;
  /** Deletes issued-certificate records that expired before `expiredBefore`; returns how many (0 without a database). */
  pruneIssued(expiredBefore: Date): Promise<number>;
  /** Increases when the bundle changes (SPIFFE `spiffe_sequence`). */
  readonly sequence: number;
  /** Flushes pending issuance records. */
  close(): Promise<void>;
}

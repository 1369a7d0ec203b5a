import type { Database } from '../store/index.js';
import type { WardenConfig } from '../config/index.js';
import { WardenError } from '../errors/index.js';
import type { CertificateAuthority } from './CertificateAuthority.js';
import { RegistrationEntryRepository } from './RegistrationEntryRepository.js';
import { JoinTokenRepository } from './JoinTokenRepository.js';
import { KubernetesTokenAttestor } from './KubernetesTokenAttestor.js';
import { verifyPeerSvid, type PeerCertificateInput, type VerifiedSvid } from './verifyPeerSvid.js';
import { parseAndVerifyCsr } from './fastLeaf.js';
import { parseWorkloadSpiffeId } from './parseWorkloadSpiffeId.js';
import type { X509Svid, JwtSvid } from './types.js';
import type { JSONWebKeySet } from 'jose';

export type IdentityConfig = WardenConfig['identity'];

export interface AttestRequest {
  csr: string;
  joinToken?: string;
  k8sToken?: string;
  /** With k8s attestation: which of several matching entries to use. */
  spiffeId?: string;
  /**
   * Another lifetime, at most identity.svidTtlSeconds (or the matched registration entry's ttl):
   * longer ones, up to identity.maxSvidTtlSeconds, only an admin issues.
   */
  ttlSeconds?: number;
}

/**
 * The server side of identity: attestation (join token, Kubernetes SA token) → registration
 * entries → X.509-SVID; renewal authenticated by the current SVID; JWT-SVIDs for SVID holders.
 */
export class IdentityService {
  readonly entries: RegistrationEntryRepository;
  readonly tokens: JoinTokenRepository;
  private readonly k8s: KubernetesTokenAttestor | null;

  constructor(
    readonly ca: CertificateAuthority,
    readonly db: Database,
    readonly config: IdentityConfig,
    options: { k8sJwks?: JSONWebKeySet } = {},
  ) {
    this.entries = new RegistrationEntryRepository(db, ca.trustDomain);
    this.tokens = new JoinTokenRepository(db, ca.trustDomain);
    const k = config.k8s;
    this.k8s = k.issuer
      ? new KubernetesTokenAttestor({
          issuer: k.issuer,
          audience: k.audience,
          jwksUrl: k.jwksUrl || undefined,
          jwksFile: k.jwksFile || undefined,
          jwks: options.k8sJwks,
          clockSkewSeconds: config.clockSkewSeconds,
        })
      : null;
  }

  private assertNotRevoked(spiffeId: string): void {
    if (this.ca.revocations.hasSpiffeId(spiffeId)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${spiffeId} is revoked`);
  }

  /**
   * A lifetime a workload asked for itself (attest, renew): at most `max`, identity.svidTtlSeconds
   * unless an admin chose another. A stolen join token or SVID thus yields no longer-lived credential.
   */
  private workloadSvidTtl(requested: number | undefined, max: number): number | undefined {
    if (requested === undefined) return undefined;
    if (!Number.isInteger(requested) || requested < 1 || requested > max) {
      throw new WardenError('WARDEN_IDENTITY_TTL_INVALID', `a workload may request an SVID lifetime of 1..${max} seconds; longer ones are issued by an admin`);
    }
    return requested;
  }

  async attest(req: AttestRequest): Promise<X509Svid & { attestedBy: string }> {
    if (typeof req.csr !== 'string') throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', 'csr (PEM) is required');
    if (req.joinToken !== undefined && req.k8sToken !== undefined) throw new WardenError('WARDEN_INPUT_INVALID', 'give one of joinToken or k8sToken');
    if (req.joinToken !== undefined) {
      // Everything that can fail is checked before the token is used up, so a client bug (or a
      // revoked ID) does not waste it: the CSR, the lifetime, then what the token is for.
      parseAndVerifyCsr(req.csr);
      const ttlSeconds = this.workloadSvidTtl(req.ttlSeconds, this.config.svidTtlSeconds);
      const pending = await this.tokens.peek(req.joinToken);
      parseWorkloadSpiffeId(pending.spiffeId, this.ca.trustDomain);
      this.assertNotRevoked(pending.spiffeId);
      const t = await this.tokens.consume(req.joinToken);
      // A revocation may have landed between the look and the use.
      this.assertNotRevoked(t.spiffeId);
      return { ...(await this.ca.issueX509SvidFromCsr(req.csr, { spiffeId: t.spiffeId, ttlSeconds })), attestedBy: `join_token:${t.id}` };
    }
    if (req.k8sToken !== undefined) {
      if (!this.k8s) throw new WardenError('WARDEN_IDENTITY_ATTESTOR_DISABLED', 'Kubernetes attestation is not configured (identity.k8s.issuer)');
      const selectors = await this.k8s.attest(req.k8sToken);
      const matches = await this.entries.match(selectors);
      const chosen = req.spiffeId ? matches.filter((m) => m.spiffeId === req.spiffeId) : matches;
      const ids = [...new Set(chosen.map((m) => m.spiffeId))];
      if (ids.length === 0) throw new WardenError('WARDEN_IDENTITY_ATTESTATION_FAILED', `no registration entry matches ${selectors.join(', ')}`);
      if (ids.length > 1) throw new WardenError('WARDEN_IDENTITY_ATTESTATION_FAILED', `several SPIFFE IDs match (${ids.length}); pass spiffeId to choose`);
      const entry = chosen[0]!;
      this.assertNotRevoked(entry.spiffeId);
      // The entry's ttl is the admin's choice: the workload may ask for up to that.
      const ttlSeconds = this.workloadSvidTtl(req.ttlSeconds, entry.ttlSeconds ?? this.config.svidTtlSeconds) ?? entry.ttlSeconds ?? undefined;
      return { ...(await this.ca.issueX509SvidFromCsr(req.csr, { spiffeId: entry.spiffeId, ttlSeconds })), attestedBy: `entry:${entry.id}` };
    }
    throw new WardenError('WARDEN_INPUT_INVALID', 'attestation needs joinToken or k8sToken');
  }

  /** Verifies a caller's SVID (chain, SPIFFE shape, revocation) against this CA. */
  verifyPeer(peer: PeerCertificateInput | null | undefined): VerifiedSvid {
    return verifyPeerSvid(peer, this.ca.bundlePem(), this.ca.revocations, this.ca.trustDomain, { clockSkewSeconds: this.config.clockSkewSeconds });
  }

  /** Re-issues an SVID for the SPIFFE ID the caller already proves over mTLS (new key via CSR). */
  async renew(peer: PeerCertificateInput | null | undefined, csr: string, ttlSeconds?: number): Promise<X509Svid> {
    return this.renewVerified(this.verifyPeer(peer), csr, ttlSeconds);
  }

  /** `renew` for a caller the route has just verified with `verifyPeer` (no second chain check). */
  async renewVerified(who: VerifiedSvid, csr: string, ttlSeconds?: number): Promise<X509Svid> {
    assertCallerCurrent(who);
    // A renewal keeps the lifetime the SVID was given (a Kubernetes entry's, an admin's), by
    // default too, but never more: its notBefore is backdated by the clock skew, taken off here.
    const given = who.notBefore ? Math.floor((who.notAfter.getTime() - who.notBefore.getTime()) / 1000) - this.config.clockSkewSeconds : 0;
    const max = Math.min(Math.max(this.config.svidTtlSeconds, given), this.config.maxSvidTtlSeconds);
    const ttl = this.workloadSvidTtl(ttlSeconds, max) ?? (given > this.config.svidTtlSeconds ? max : undefined);
    return this.ca.issueX509SvidFromCsr(csr, { spiffeId: who.spiffeId, ttlSeconds: ttl });
  }

  async jwtSvid(peer: PeerCertificateInput | null | undefined, audience: string | string[], ttlSeconds?: number): Promise<JwtSvid> {
    return this.jwtSvidVerified(this.verifyPeer(peer), audience, ttlSeconds);
  }

  /**
   * A JWT-SVID for a caller holding the X.509-SVID `who`. It is bound to that SVID: it names its
   * serial (revoking the serial revokes the JWT) and never outlives it. A lifetime above
   * identity.jwtSvidTtlSeconds is refused (a bearer token is replayable by whoever holds it).
   */
  async jwtSvidVerified(who: VerifiedSvid, audience: string | string[], ttlSeconds?: number, now = new Date()): Promise<JwtSvid> {
    assertCallerCurrent(who, now.getTime());
    const max = this.config.jwtSvidTtlSeconds;
    if (ttlSeconds !== undefined && (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > max)) {
      throw new WardenError('WARDEN_IDENTITY_TTL_INVALID', `a workload may request a JWT-SVID lifetime of 1..${max} seconds (identity.jwtSvidTtlSeconds)`);
    }
    const svidLeftSeconds = Math.floor((who.notAfter.getTime() - now.getTime()) / 1000);
    // verifyPeer tolerates clock skew; a JWT-SVID from an SVID already past its end would be born expired.
    if (svidLeftSeconds < 1) throw new WardenError('WARDEN_IDENTITY_SVID_EXPIRED', 'the X.509-SVID has expired; renew it (or attest again) first');
    const ttl = Math.min(ttlSeconds ?? max, svidLeftSeconds);
    return this.ca.issueJwtSvid({ spiffeId: who.spiffeId, audience, ttlSeconds: ttl, now, svidSerial: who.serial });
  }
}

/**
 * New credentials only for an SVID that has not expired on this clock. verifyPeer allows the
 * clock skew past notAfter, which suits a peer's clock but not the issuer's own decision: an
 * expired SVID renewing itself is an SVID that never expires, and a serial revocation is
 * eventually forgotten after its certificate expires.
 */
function assertCallerCurrent(who: VerifiedSvid, now = Date.now()): void {
  if (who.notAfter.getTime() < now) throw new WardenError('WARDEN_IDENTITY_SVID_EXPIRED', `the SVID expired at ${who.notAfter.toISOString()}; attest again`);
}

import type { Logger } from '../../observe/index.js';
import type { RevocationList, SpiffeBundle } from '../../identity/index.js';
import { WardenError } from '../../errors/index.js';
import { BearerAuthenticator } from './BearerAuthenticator.js';
import { JwtAuthenticator, type JwtIssuerOptions } from './JwtAuthenticator.js';
import { JwtSvidAuthenticator } from './JwtSvidAuthenticator.js';
import { MtlsAuthenticator } from './MtlsAuthenticator.js';

/** Shape of `gateway.authn` in warden.yaml. */
export interface AuthnConfig {
  jwtIssuers: JwtIssuerOptions[];
  jwtSvidAudience: string | null;
  mtls: boolean;
}

/** The trust domain's current bundle and revocations (from the CA in-process, or the PEP snapshot). */
export interface WorkloadTrust {
  trustDomain: string;
  /** SPIFFE bundle (JWKS) for JWT-SVIDs, e.g. `() => ca.jwks()`. */
  bundle: () => SpiffeBundle;
  /** X.509 roots (PEM) for client SVIDs, e.g. `() => ca.bundlePem()`. */
  bundlePem: () => string;
  revocations: RevocationList | null;
  /** For remote PEPs: false while the revocation stream is down past its allowance (fail closed). */
  revocationsFresh?: () => boolean;
  /**
   * For remote PEPs: fetch the bundle again now, rate-limited, when a credential names a JWT key
   * or X.509 root not in it (a CA rotation not seen yet). In-process trust is always current.
   */
  refreshBundle?: () => Promise<void>;
}

export interface Authenticators {
  /** Bearer JWTs (OIDC and JWT-SVID); returns null for API keys. */
  bearer: BearerAuthenticator;
  jwt: JwtAuthenticator | null;
  /** Client certificates; null unless `mtls: true`. */
  mtls: MtlsAuthenticator | null;
  /** The revocation list workload credentials (client SVIDs, JWT-SVIDs) are checked against; null when none is accepted. */
  revocations: RevocationList | null;
}

/** Builds the configured authenticators; call `jwt?.warm()` at startup. */
export function createAuthenticators(config: AuthnConfig, trust: WorkloadTrust | null, logger?: Logger): Authenticators {
  const jwt = config.jwtIssuers.length > 0 ? new JwtAuthenticator({ issuers: config.jwtIssuers, logger }) : null;
  const jwtSvid =
    config.jwtSvidAudience && trust
      ? new JwtSvidAuthenticator({
          trustDomain: trust.trustDomain,
          audience: config.jwtSvidAudience,
          bundle: trust.bundle,
          isRevoked: (id, svidSerial) => {
            if (trust.revocationsFresh && !trust.revocationsFresh()) throw new WardenError('WARDEN_GATEWAY_REVOCATIONS_STALE', 'JWT-SVIDs are refused until the revocation list is current again');
            return trust.revocations?.isRevoked(id, svidSerial) ?? false;
          },
          refreshBundle: trust.refreshBundle,
        })
      : null;
  const mtls = config.mtls && trust ? new MtlsAuthenticator({ trustDomain: trust.trustDomain, bundlePem: trust.bundlePem, revocations: trust.revocations, revocationsFresh: trust.revocationsFresh, refreshBundle: trust.refreshBundle }) : null;
  return { bearer: new BearerAuthenticator({ jwt, jwtSvid }), jwt, mtls, revocations: (mtls || jwtSvid) && trust ? trust.revocations : null };
}

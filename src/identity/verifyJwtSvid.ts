import { jwtVerify, createLocalJWKSet, errors as joseErrors } from 'jose';
import { WardenError } from '../errors/index.js';
import { parseSpiffeId } from './SpiffeId.js';
import type { SpiffeBundle } from './types.js';
import type { RevocationList } from './RevocationList.js';

export interface VerifiedJwtSvid {
  spiffeId: string;
  audience: string[];
  expiresAt: Date;
}

/** Signature algorithms of JWT-SVIDs (Warden's CA signs with ES256 or EdDSA, identity.jwtAlgorithm). */
export const JWT_SVID_ALGORITHMS = ['ES256', 'ES384', 'EdDSA'];

/**
 * Verifies a JWT-SVID per the SPIFFE JWT-SVID spec (§3-4): signed by a `jwt-svid` key of the
 * bundle (ES256/ES384/EdDSA; never `none` or HMAC), `sub` a SPIFFE ID of the trust domain,
 * `aud` containing `audience`, `exp` present and not passed (± clock skew).
 */
export async function verifyJwtSvid(
  token: string,
  bundle: SpiffeBundle,
  o: { audience: string; trustDomain: string; clockSkewSeconds?: number; revocations?: RevocationList | null; now?: Date },
): Promise<VerifiedJwtSvid> {
  if (typeof token !== 'string' || token.length > 8192) throw new WardenError('WARDEN_IDENTITY_JWT_INVALID', 'token missing or too long');
  const keys = bundle.keys.filter((k) => k.use === 'jwt-svid').map(({ use: _use, ...k }) => k);
  const jwks = createLocalJWKSet({ keys });
  let payload;
  try {
    ({ payload } = await jwtVerify(token, jwks, {
      audience: o.audience,
      algorithms: JWT_SVID_ALGORITHMS,
      clockTolerance: o.clockSkewSeconds ?? 30,
      requiredClaims: ['sub', 'aud', 'exp'],
      currentDate: o.now,
    }));
  } catch (cause) {
    const why = cause instanceof joseErrors.JWTExpired ? 'expired' : cause instanceof joseErrors.JWTClaimValidationFailed ? `claim ${cause.claim} invalid` : 'signature or format invalid';
    throw new WardenError('WARDEN_IDENTITY_JWT_INVALID', `JWT-SVID rejected: ${why}`, { cause });
  }
  let id;
  try {
    id = parseSpiffeId(String(payload.sub));
  } catch (cause) {
    throw new WardenError('WARDEN_IDENTITY_JWT_INVALID', 'JWT-SVID sub is not a SPIFFE ID', { cause });
  }
  if (id.trustDomain !== o.trustDomain) throw new WardenError('WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH', `${id.id} is not in trust domain ${o.trustDomain}`);
  if (o.revocations?.hasSpiffeId(id.id)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${id.id} is revoked`);
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud!];
  return { spiffeId: id.id, audience: aud, expiresAt: new Date(payload.exp! * 1000) };
}

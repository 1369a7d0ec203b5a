import { jwtVerify, createLocalJWKSet, errors as joseErrors } from 'jose';
import { WardenError } from '../errors/index.js';
import { parseSpiffeId } from './SpiffeId.js';
import type { SpiffeBundle } from './types.js';
import type { RevocationList } from './RevocationList.js';

export interface VerifiedJwtSvid {
  spiffeId: string;
  audience: string[];
  expiresAt: Date;
  /** Serial of the X.509-SVID the workload minted the token with (absent on admin-issued tokens). */
  svidSerial?: string;
}

/** Signature algorithms of JWT-SVIDs (Warden's CA signs with ES256 or EdDSA, identity.jwtAlgorithm). */
export const JWT_SVID_ALGORITHMS = ['ES256', 'ES384', 'EdDSA'];

/**
 * Private claim of a JWT-SVID a workload minted with its X.509-SVID (`POST /identity/jwt`): that
 * SVID's serial (lowercase hex), so revoking the serial revokes the JWT too, not only its SPIFFE ID.
 */
export const JWT_SVID_SERIAL_CLAIM = 'warden_svid_serial';

/**
 * The minting serial of a verified JWT-SVID payload; undefined when the claim is absent. A claim
 * that is present but not a serial is refused: a verifier cannot check what it cannot read.
 */
export function jwtSvidSerialOf(payload: Record<string, unknown>): string | undefined {
  const serial = payload[JWT_SVID_SERIAL_CLAIM];
  if (serial === undefined) return undefined;
  if (typeof serial !== 'string' || !/^[0-9a-f]{1,40}$/.test(serial)) throw new WardenError('WARDEN_IDENTITY_JWT_INVALID', `JWT-SVID claim ${JWT_SVID_SERIAL_CLAIM} is not a certificate serial`);
  return serial;
}

/**
 * Verifies a JWT-SVID per the SPIFFE JWT-SVID spec (§3-4): signed by a `jwt-svid` key of the
 * bundle (ES256/ES384/EdDSA; never `none` or HMAC), `sub` a SPIFFE ID of the trust domain,
 * `aud` containing `audience`, `exp` present and not passed (± clock skew); with `revocations`,
 * neither its SPIFFE ID nor the serial of the X.509-SVID it was minted with revoked.
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
  const svidSerial = jwtSvidSerialOf(payload);
  if (o.revocations?.hasSpiffeId(id.id)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${id.id} is revoked`);
  if (svidSerial !== undefined && o.revocations?.hasSerial(svidSerial)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `the X.509-SVID ${id.id} minted this JWT-SVID with is revoked`);
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud!];
  return { spiffeId: id.id, audience: aud, expiresAt: new Date(payload.exp! * 1000), ...(svidSerial === undefined ? {} : { svidSerial }) };
}

import { errors as joseErrors } from 'jose';
import { WardenError, isWardenError } from '../../errors/index.js';

/** Turns a jose verification failure into a stable Warden code; the message names the reason, never the token. */
export function mapJoseError(err: unknown, what = 'bearer token'): WardenError {
  if (isWardenError(err)) return err;
  if (err instanceof joseErrors.JWTExpired) return new WardenError('WARDEN_AUTHN_TOKEN_EXPIRED', `the ${what} has expired`, { cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new WardenError('WARDEN_AUTHN_TOKEN_AUDIENCE', `the ${what} was issued for another audience`, { cause: err });
    if (err.claim === 'iss') return new WardenError('WARDEN_AUTHN_TOKEN_ISSUER', `the ${what} comes from an untrusted issuer`, { cause: err });
    if (err.claim === 'nbf' || (err.claim === 'iat' && err.reason === 'check_failed')) return new WardenError('WARDEN_AUTHN_TOKEN_NOT_YET_VALID', `the ${what} is not valid yet`, { cause: err });
    return new WardenError('WARDEN_AUTHN_TOKEN_INVALID', `the ${what} claim "${err.claim}" is ${err.reason === 'missing' ? 'missing' : 'invalid'}`, { cause: err });
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new WardenError('WARDEN_AUTHN_BAD_SIGNATURE', `the ${what} signature does not verify`, { cause: err });
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new WardenError('WARDEN_AUTHN_ALGORITHM_NOT_ALLOWED', `the ${what} signing algorithm is not allowed`, { cause: err });
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return new WardenError('WARDEN_AUTHN_UNKNOWN_KID', `the ${what} is signed with an unknown key`, { cause: err });
  return new WardenError('WARDEN_AUTHN_TOKEN_INVALID', `the ${what} is malformed`, { cause: err });
}

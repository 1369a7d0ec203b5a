import { decodeJwt } from 'jose';
import { WardenError } from '../../errors/index.js';
import type { Principal } from '../RequestContext.js';
import type { JwtAuthenticator } from './JwtAuthenticator.js';
import type { JwtSvidAuthenticator } from './JwtSvidAuthenticator.js';
import { mapJoseError } from './mapJoseError.js';

/** A compact JWS: three base64url parts, the header starting with `{"` (`eyJ`). API keys never look like this. */
export function looksLikeJwt(token: string): boolean {
  if (token.length < 20 || token.charCodeAt(0) !== 101 /* e */ || token.charCodeAt(1) !== 121 /* y */ || token.charCodeAt(2) !== 74 /* J */) return false;
  const first = token.indexOf('.');
  return first > 0 && token.indexOf('.', first + 1) > first + 1;
}

/**
 * Routes a bearer JWT to the authenticator that can verify it: a configured OIDC issuer by its
 * `iss`, else a Warden JWT-SVID (no `iss`, `sub` is a SPIFFE ID). Returns null for a
 * credential that is not a JWT (an API key: the caller checks it against the snapshot).
 */
export class BearerAuthenticator {
  constructor(private readonly o: { jwt?: JwtAuthenticator | null; jwtSvid?: JwtSvidAuthenticator | null }) {}

  /** True when any JWT method is configured; otherwise every bearer is an API key. */
  get enabled(): boolean {
    return Boolean(this.o.jwt || this.o.jwtSvid);
  }

  async authenticate(token: string): Promise<Principal | null> {
    if (!this.enabled || !looksLikeJwt(token)) return null;
    let iss: unknown;
    let sub: unknown;
    try {
      ({ iss, sub } = decodeJwt(token));
    } catch (err) {
      throw mapJoseError(err);
    }
    if (typeof iss === 'string' && this.o.jwt?.trusts(iss)) return this.o.jwt.authenticate(token, iss);
    if (iss === undefined && typeof sub === 'string' && sub.startsWith('spiffe://') && this.o.jwtSvid) return this.o.jwtSvid.authenticate(token);
    throw new WardenError('WARDEN_AUTHN_TOKEN_ISSUER', 'the bearer token comes from an untrusted issuer');
  }
}

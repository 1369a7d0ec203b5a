import { jwtVerify, createLocalJWKSet, type JWTVerifyOptions } from 'jose';
import { WardenError } from '../../errors/index.js';
import { JWT_SVID_ALGORITHMS, jwtSvidSerialOf, parseSpiffeId, type SpiffeBundle } from '../../identity/index.js';
import type { Principal } from '../RequestContext.js';
import { mapJoseError } from './mapJoseError.js';
import { MAX_TOKEN_LENGTH } from './JwtAuthenticator.js';

export interface JwtSvidAuthenticatorOptions {
  trustDomain: string;
  /** The `aud` this gateway requires (SPIFFE JWT-SVID §3: audience is mandatory). */
  audience: string;
  /** Current SPIFFE bundle (e.g. `() => ca.jwks()`); re-read when its sequence changes. */
  bundle: () => SpiffeBundle;
  /** `svidSerial`: the X.509-SVID the token was minted with (JWT_SVID_SERIAL_CLAIM), when it says. */
  isRevoked: (spiffeId: string, svidSerial: string | undefined) => boolean;
  /**
   * Remote PEPs: fetch the bundle again now (rate-limited by the caller). A token signed with a key
   * the bundle lacks is verified once more if the bundle changed, since a CA rotation may not have
   * reached this PEP yet; otherwise it is refused as before.
   */
  refreshBundle?: () => Promise<void>;
  clockSkewSeconds?: number;
  algorithms?: string[];
  now?: () => number;
}

/** Warden JWT-SVIDs (`sub` = SPIFFE ID) verified against the in-process SPIFFE bundle. */
export class JwtSvidAuthenticator {
  private keys: ReturnType<typeof createLocalJWKSet> | null = null;
  private keysFor: SpiffeBundle | null = null;
  private keysSequence = -1;
  private readonly verify: JWTVerifyOptions;

  constructor(private readonly o: JwtSvidAuthenticatorOptions) {
    this.verify = {
      audience: o.audience,
      algorithms: o.algorithms ?? JWT_SVID_ALGORITHMS,
      clockTolerance: o.clockSkewSeconds ?? 30,
      requiredClaims: ['sub', 'aud', 'exp'],
    };
  }

  private keySet(bundle: SpiffeBundle): ReturnType<typeof createLocalJWKSet> {
    if (bundle !== this.keysFor || bundle.spiffe_sequence !== this.keysSequence || !this.keys) {
      const keys = bundle.keys.filter((k) => k.use === 'jwt-svid').map(({ use: _use, ...k }) => k);
      this.keys = createLocalJWKSet({ keys });
      this.keysFor = bundle;
      this.keysSequence = bundle.spiffe_sequence;
    }
    return this.keys;
  }

  /** Verifies a JWT-SVID; one await. Principal `Service::"spiffe://…"`. */
  async authenticate(token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_LENGTH) throw new WardenError('WARDEN_AUTHN_TOKEN_INVALID', 'the JWT-SVID is too long');
    let payload;
    const options = this.o.now ? { ...this.verify, currentDate: new Date(this.o.now()) } : this.verify;
    const bundle = this.o.bundle();
    try {
      ({ payload } = await jwtVerify(token, this.keySet(bundle), options));
    } catch (err) {
      const refused = mapJoseError(err, 'JWT-SVID');
      if (refused.code !== 'WARDEN_AUTHN_UNKNOWN_KID' || !this.o.refreshBundle) throw refused;
      await this.o.refreshBundle();
      const next = this.o.bundle();
      if (next === bundle && next.spiffe_sequence === bundle.spiffe_sequence) throw refused;
      try {
        ({ payload } = await jwtVerify(token, this.keySet(next), options));
      } catch (again) {
        throw mapJoseError(again, 'JWT-SVID');
      }
    }
    let spiffeId: string;
    let trustDomain: string;
    try {
      ({ id: spiffeId, trustDomain } = parseSpiffeId(payload.sub!));
    } catch (cause) {
      throw new WardenError('WARDEN_AUTHN_TOKEN_INVALID', 'the JWT-SVID subject is not a SPIFFE ID', { cause });
    }
    if (trustDomain !== this.o.trustDomain) throw new WardenError('WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH', `${spiffeId} is not in trust domain ${this.o.trustDomain}`);
    let serial: string | undefined;
    try {
      serial = jwtSvidSerialOf(payload);
    } catch (cause) {
      throw new WardenError('WARDEN_AUTHN_TOKEN_INVALID', 'the JWT-SVID names no valid minting SVID serial', { cause });
    }
    if (this.o.isRevoked(spiffeId, serial)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${spiffeId} has been revoked`);
    // The serial lets RevocationEnforcer cut the request off when that SVID is revoked mid-answer.
    const principal: Principal = { entity: { type: 'Service', id: spiffeId }, id: spiffeId, method: 'jwt-svid', parents: [] };
    if (serial !== undefined) principal.serial = serial;
    return principal;
  }
}

import type { Logger } from '../../observe/index.js';
import { readCaFile } from '../../config/readCaFile.js';
import { jwtVerify, decodeJwt, errors as joseErrors, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { WardenError } from '../../errors/index.js';
import type { Principal } from '../RequestContext.js';
import { JwksCache } from './JwksCache.js';
import { mapJoseError } from './mapJoseError.js';
import { claimsToParents, type ClaimTypes } from './claimsToParents.js';

export interface JwtIssuerOptions {
  issuer: string;
  audience: string | string[];
  jwksUri: string;
  clockSkewSeconds?: number;
  jwksCacheMaxAgeSeconds?: number;
  jwksRefreshSeconds?: number;
  jwksMinRefetchSeconds?: number;
  /** PEM file of the CA(s) that sign the JWKS endpoint's certificate (an IdP with an internal CA). */
  jwksCaFile?: string;
  allowedAlgorithms?: string[];
  /** Cedar types of the subject, group and tenant entities (default `User`, `Group`, `Tenant`). */
  principalType?: string;
  groupType?: string;
  tenantType?: string;
  groupsClaim?: string;
  tenantClaim?: string;
  /** `acr` values that prove multi-factor authentication (besides `amr` containing `mfa`). */
  mfaAcrValues?: string[];
}

export interface JwtAuthenticatorOptions {
  issuers: JwtIssuerOptions[];
  /** Injected clock (epoch ms) for tests; also used as jose's current date. */
  now?: () => number;
  fetchTimeoutMs?: number;
  /** Verified tokens remembered (0 disables); a hit skips the ~0.1 ms signature check. */
  verifiedCacheSize?: number;
  /** Longest a verified token is remembered (never past its `exp`), in seconds. */
  verifiedCacheSeconds?: number;
  /** Where failed JWKS fetches (and the recovery after them) are reported. */
  logger?: Pick<Logger, 'warn' | 'error' | 'info'>;
}

/** Longest bearer token accepted: bounds base64 decoding and signature work. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

interface Verified {
  principal: Principal;
  until: number;
  issuer: Issuer;
}

interface Issuer {
  jwks: JwksCache;
  verify: JWTVerifyOptions;
  principalType: string;
  claims: ClaimTypes;
}

/**
 * OIDC/OAuth bearer tokens (JWT) verified with jose against each trusted issuer's JWKS.
 * With several issuers, the unverified `iss` picks the issuer whose keys and rules apply;
 * the signature check then proves it.
 */
export class JwtAuthenticator {
  private readonly byIssuer = new Map<string, Issuer>();
  private readonly only: Issuer | null;
  private readonly now: (() => number) | undefined;
  // Clients reuse a token for its lifetime; remembering the verified result for a short while
  // (bounded by exp, by the JWKS max age and by `verifiedCacheSeconds`) spares the signature check.
  private readonly verified = new Map<string, Verified>();
  private readonly verifiedMax: number;
  private readonly verifiedMs: number;

  constructor(options: JwtAuthenticatorOptions) {
    if (options.issuers.length === 0) throw new WardenError('WARDEN_CONFIG_INVALID', 'JwtAuthenticator needs at least one issuer');
    this.now = options.now;
    this.verifiedMax = options.verifiedCacheSize ?? 10_000;
    this.verifiedMs = (options.verifiedCacheSeconds ?? 60) * 1000;
    for (const o of options.issuers) {
      if (this.byIssuer.has(o.issuer)) throw new WardenError('WARDEN_CONFIG_INVALID', `issuer ${o.issuer} is configured twice`);
      const algorithms = o.allowedAlgorithms ?? ['RS256', 'ES256'];
      if (algorithms.some((a) => a === 'none' || a.startsWith('HS'))) {
        throw new WardenError('WARDEN_CONFIG_INVALID', 'JWT issuers must use asymmetric algorithms (no "none" or HMAC)');
      }
      this.byIssuer.set(o.issuer, {
        jwks: new JwksCache({
          jwksUri: o.jwksUri,
          maxAgeSeconds: o.jwksCacheMaxAgeSeconds ?? 3600,
          refreshSeconds: o.jwksRefreshSeconds ?? 300,
          minRefetchSeconds: o.jwksMinRefetchSeconds ?? 30,
          fetchTimeoutMs: options.fetchTimeoutMs,
          ca: o.jwksCaFile ? readJwksCa(o.issuer, o.jwksCaFile) : undefined,
          now: options.now,
          onFetch: options.logger ? jwksFetchReporter(options.logger, o.issuer, o.jwksUri, (o.jwksCacheMaxAgeSeconds ?? 3600) * 1000, options.now ?? Date.now) : undefined,
        }),
        verify: {
          issuer: o.issuer,
          audience: o.audience,
          algorithms,
          clockTolerance: o.clockSkewSeconds ?? 30,
          requiredClaims: ['sub', 'exp'],
        },
        principalType: o.principalType ?? 'User',
        claims: { groupsClaim: o.groupsClaim ?? 'groups', tenantClaim: o.tenantClaim ?? 'tenant', groupType: o.groupType ?? 'Group', tenantType: o.tenantType ?? 'Tenant', mfaAcrValues: new Set(o.mfaAcrValues ?? []) },
      });
    }
    this.only = this.byIssuer.size === 1 ? this.byIssuer.values().next().value! : null;
  }

  /** Whether `iss` names a configured issuer (for dispatch between authenticators). */
  trusts(iss: string): boolean {
    return this.byIssuer.has(iss);
  }

  /** Fetches every issuer's JWKS (call at startup so the first request does not wait). */
  async warm(): Promise<void> {
    await Promise.all([...this.byIssuer.values()].map((i) => i.jwks.refresh()));
  }

  /** Verifies a bearer JWT; one await. Throws WardenError WARDEN_AUTHN_* on any failure. */
  async authenticate(token: string, iss?: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_LENGTH) throw new WardenError('WARDEN_AUTHN_TOKEN_INVALID', 'the bearer token is too long');
    const now = this.now ? this.now() : Date.now();
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (hit.until > now && hit.issuer.jwks.usable(now)) return hit.principal;
      this.verified.delete(token);
    }
    let issuer = this.only;
    if (!issuer) {
      if (iss === undefined) {
        try {
          const claim = decodeJwt(token).iss;
          iss = typeof claim === 'string' ? claim : undefined;
        } catch (err) {
          throw mapJoseError(err);
        }
      }
      issuer = iss === undefined ? null : (this.byIssuer.get(iss) ?? null);
      if (!issuer) throw new WardenError('WARDEN_AUTHN_TOKEN_ISSUER', 'the bearer token comes from an untrusted issuer');
    }
    let payload;
    const options = this.now ? { ...issuer.verify, currentDate: new Date(now) } : issuer.verify;
    try {
      ({ payload } = await jwtVerify(token, issuer.jwks.resolve, options));
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) throw mapJoseError(err);
      payload = await verifyWithCandidates(token, err, options);
    }
    // jose requires `sub` but does not check its type: a number or array would become an entity id.
    const sub = payload.sub as unknown;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) throw new WardenError('WARDEN_AUTHN_TOKEN_INVALID', 'the bearer token subject is not a string of 1-256 characters');
    // Frozen: the same object is handed to every request that presents this token.
    const { parents, tenant, mfa } = claimsToParents(payload, issuer.claims);
    const principal: Principal = Object.freeze({
      entity: Object.freeze({ type: issuer.principalType, id: sub }),
      id: sub,
      method: 'jwt' as const,
      issuer: issuer.verify.issuer as string,
      parents: Object.freeze(parents) as Principal['parents'],
      mfa,
      ...(tenant === undefined ? {} : { tenant }),
    });
    if (this.verifiedMax > 0) {
      if (this.verified.size >= this.verifiedMax) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, { principal, until: Math.min(payload.exp! * 1000, now + this.verifiedMs), issuer });
    }
    return principal;
  }
}

function readJwksCa(issuer: string, path: string): string {
  const pem = readCaFile(path, `jwksCaFile of issuer ${issuer}`);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new WardenError('WARDEN_CONFIG_INVALID', `jwksCaFile of issuer ${issuer} holds no PEM certificate: ${path}`);
  return pem;
}

/**
 * A token without `kid` while the issuer publishes several keys of its algorithm (during a key
 * rotation): jose names the candidates but does not try them; the first whose signature verifies
 * decides (its claims are then checked as usual).
 */
async function verifyWithCandidates(token: string, candidates: joseErrors.JWKSMultipleMatchingKeys, options: JWTVerifyOptions): Promise<JWTPayload> {
  for await (const key of candidates as unknown as AsyncIterable<CryptoKey>) {
    try {
      return (await jwtVerify(token, key, options)).payload;
    } catch (err) {
      if (!(err instanceof joseErrors.JWSSignatureVerificationFailed)) throw mapJoseError(err);
    }
  }
  throw mapJoseError(new joseErrors.JWSSignatureVerificationFailed());
}

/**
 * Logs each failed JWKS fetch and the first good one after: without it a wrong jwksUri or an IdP
 * outage shows only as 503 WARDEN_AUTHN_JWKS_UNAVAILABLE answers. The endpoint is logged without
 * its query or credentials.
 */
function jwksFetchReporter(logger: NonNullable<JwtAuthenticatorOptions['logger']>, issuer: string, jwksUri: string, maxAgeMs: number, now: () => number): (failure: string | null, fetchedAt: number) => void {
  const url = new URL(jwksUri);
  const jwks = `${url.origin}${url.pathname}`;
  let failing = false;
  return (failure, fetchedAt) => {
    if (failure === null) {
      if (failing) logger.info({ issuer, jwks }, 'JWKS fetched again');
      failing = false;
      return;
    }
    failing = true;
    const usableUntil = fetchedAt + maxAgeMs;
    if (usableUntil > now()) logger.warn({ issuer, jwks, reason: failure, cachedKeysUntil: new Date(usableUntil).toISOString() }, 'JWKS fetch failed; the cached keys are used until they expire');
    else logger.error({ issuer, jwks, reason: failure }, 'JWKS fetch failed and no usable keys are cached: tokens from this issuer are refused (503 WARDEN_AUTHN_JWKS_UNAVAILABLE)');
  };
}

export { JwtAuthenticator, MAX_TOKEN_LENGTH, type JwtAuthenticatorOptions, type JwtIssuerOptions } from './JwtAuthenticator.js';
export { JwtSvidAuthenticator, type JwtSvidAuthenticatorOptions } from './JwtSvidAuthenticator.js';
export { MtlsAuthenticator, tlsSocketOf, type MtlsAuthenticatorOptions } from './MtlsAuthenticator.js';
export { BearerAuthenticator, looksLikeJwt } from './BearerAuthenticator.js';
export { JwksCache, type JwksCacheOptions } from './JwksCache.js';
export { claimsToParents, claimAt, type ClaimTypes } from './claimsToParents.js';
export { mapJoseError } from './mapJoseError.js';
export { createAuthenticators, type AuthnConfig, type WorkloadTrust, type Authenticators } from './createAuthenticators.js';

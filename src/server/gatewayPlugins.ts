import type { LoadedConfig } from '../config/index.js';
import type { CertificateAuthority } from '../identity/index.js';
import type { Logger } from '../observe/index.js';
import { createAuthenticators, createRateLimitPolicy, RequestValidator, type Authenticators, type RateLimiting } from '../gateway/index.js';

export interface GatewayPlugins {
  authn: Authenticators;
  rateLimiting: RateLimiting;
  validator: RequestValidator;
  close(): Promise<void>;
}

/**
 * Builds the configured authenticators, rate limiter and request validator for a gateway. With a
 * CA (in-process `warden up`) JWT-SVIDs and client SVIDs are verified against its bundle and
 * revocation list.
 */
export async function createGatewayPlugins(config: LoadedConfig, ca: CertificateAuthority | null, logger: Logger): Promise<GatewayPlugins> {
  const authn = createAuthenticators(
    config.gateway.authn,
    ca ? { trustDomain: ca.trustDomain, bundle: () => ca.jwks(), bundlePem: () => ca.bundlePem(), revocations: ca.revocations } : null,
  );
  await authn.jwt?.warm().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'JWKS not reachable at start-up; will retry'));
  const rateLimiting = createRateLimitPolicy(config.gateway.rateLimit, { onStoreError: (err) => logger.warn({ err: (err as Error).message }, 'rate-limit store error') });
  await rateLimiting.ready();
  return {
    authn,
    rateLimiting,
    validator: new RequestValidator(config.gateway.validation),
    close: () => rateLimiting.close(),
  };
}

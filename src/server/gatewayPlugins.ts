import type { LoadedConfig } from '../config/index.js';
import type { CertificateAuthority } from '../identity/index.js';
import { createTracing, type Logger, type Tracing } from '../observe/index.js';
import { createAuthenticators, createRateLimitPolicy, RequestValidator, stringifyKeepingNumbers, type Authenticators, type RateLimiting, type GatewayOptions, type WorkloadTrust } from '../gateway/index.js';
import { createDetectors, createGatewayGuards, type DetectorEvent, type Detectors, type FeatureProfile } from '../detect/index.js';
import type { AuditRecord } from '../audit/index.js';

export interface GatewayPlugins {
  authn: Authenticators;
  rateLimiting: RateLimiting;
  validator: RequestValidator;
  detectors: Detectors;
  tracing: Tracing;
  /** The gateway options every PEP process derives from config and these plugins. */
  gatewayOptions: Pick<GatewayOptions, 'host' | 'port' | 'maxBodyBytes' | 'idleTimeoutMs' | 'headersTimeoutMs' | 'bodyTimeoutMs' | 'maxConnections' | 'maxConnectionsPerSource' | 'region' | 'authn' | 'requestClientCert' | 'rateLimit' | 'validator' | 'guards' | 'maxJsonDepth' | 'tracing'>;
  close(): Promise<void>;
}

/** The audit record of a detector alarm: statistics only, never inputs or matched text. */
export function detectorAlarmRecord(event: DetectorEvent): AuditRecord {
  return {
    ts: new Date().toISOString(),
    kind: 'event',
    action: event.type,
    principal: event.principal,
    resource: event.model ? `Model::${JSON.stringify(event.model)}` : undefined,
    detectors: { [event.detector]: event.details },
  };
}

/** Workload trust straight from the CA (in-process `warden up`). */
export function caWorkloadTrust(ca: CertificateAuthority): WorkloadTrust {
  return { trustDomain: ca.trustDomain, bundle: () => ca.jwks(), bundlePem: () => ca.bundlePem(), revocations: ca.revocations };
}

/**
 * Builds the configured authenticators, rate limiter, request validator and detectors for a gateway. With
 * workload trust (the CA in-process, or the control plane's bundle and revocation stream for
 * `warden gateway`) JWT-SVIDs and client SVIDs are verified against its bundle and revocation list.
 */
export async function createGatewayPlugins(
  config: LoadedConfig,
  trust: WorkloadTrust | null,
  logger: Logger,
  detect: { onAlarm(event: DetectorEvent): void; profiles?: Record<string, FeatureProfile>; models: readonly string[] },
): Promise<GatewayPlugins> {
  const authn = createAuthenticators(config.gateway.authn, trust, logger);
  // Never throws: a JWKS not reachable now is logged by the authenticator and fetched again later.
  await authn.jwt?.warm();
  const rateLimiting = createRateLimitPolicy(config.gateway.rateLimit, { onStoreError: (err) => logger.warn({ err: (err as Error).message }, 'rate-limit store error') });
  // A store that never answered must not keep the process alive (ioredis reconnects forever): the
  // caller fails the start, and `warden up` must then exit.
  await rateLimiting.ready().catch(async (err: unknown) => {
    await rateLimiting.close().catch(() => undefined);
    throw err;
  });
  const validator = new RequestValidator(config.gateway.validation);
  const detectors = createDetectors(config.detect, { emit: detect.onAlarm, profiles: detect.profiles, models: detect.models });
  const tracing = await createTracing(config.observe.tracing);
  return {
    authn,
    rateLimiting,
    validator,
    detectors,
    tracing,
    gatewayOptions: {
      host: config.gateway.host,
      port: config.gateway.port,
      maxBodyBytes: config.gateway.maxBodyBytes,
      idleTimeoutMs: config.gateway.idleTimeoutSeconds * 1000,
      headersTimeoutMs: config.gateway.headersTimeoutSeconds * 1000,
      bodyTimeoutMs: config.gateway.bodyTimeoutSeconds * 1000,
      maxConnections: config.gateway.maxConnections,
      maxConnectionsPerSource: config.gateway.maxConnectionsPerSource,
      region: config.gateway.region,
      authn,
      requestClientCert: authn.mtls !== null,
      rateLimit: rateLimiting.policy,
      validator,
      guards: createGatewayGuards(detectors, { stringify: stringifyKeepingNumbers }),
      maxJsonDepth: config.gateway.validation.maxJsonDepth,
      tracing,
    },
    close: async () => {
      await tracing.shutdown().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not export the last spans'));
      await rateLimiting.close();
      await detectors.close();
    },
  };
}

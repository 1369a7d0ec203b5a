import { z } from 'zod';

const segmentationRule = z.strictObject({
  /** Caller SPIFFE ID, or a prefix ending in /* */
  from: z.string().min(1),
  /** Callee SPIFFE ID (this service), or a prefix ending in /* ; default: any. */
  to: z.string().min(1).default('*'),
  /** Path patterns (exact, or prefix ending in *); default: all paths. */
  paths: z.array(z.string().min(1)).default(['*']),
  /** HTTP methods; default: all. */
  methods: z.array(z.string().min(1)).default(['*']),
  /** Allow this rule to cross an env/tenant boundary (denied otherwise even when matched). */
  crossBoundary: z.boolean().default(false),
});

const outboundRoute = z.strictObject({
  /** Workloads call http://127.0.0.1:<outboundPort>/<name>/… */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  /** https://host:port of the remote sidecar. */
  url: z.url(),
  /** SPIFFE ID the remote must present (otherwise the call fails). */
  spiffeId: z.string().min(1),
});

export const identitySection = z
  .strictObject({
    /** Default X.509-SVID lifetime (seconds), and the longest a workload may request (attest, renew). */
    svidTtlSeconds: z.number().int().min(60).max(30 * 86400).default(3600),
    /** Longest X.509-SVID lifetime an admin may request. */
    maxSvidTtlSeconds: z.number().int().min(60).max(365 * 86400).default(86400),
    /**
     * Default JWT-SVID lifetime (seconds), and the longest a workload may request; its token never
     * outlives the X.509-SVID it was minted with either.
     */
    jwtSvidTtlSeconds: z.number().int().min(10).max(86400).default(300),
    /** JWT-SVID signing algorithm. */
    jwtAlgorithm: z.enum(['ES256', 'EdDSA']).default('ES256'),
    /** Root CA lifetime (days); a new root is prepared when a third is left. */
    rootTtlDays: z.number().int().min(1).max(3650).default(365),
    /** Online intermediate lifetime (days); re-issued at half-life. */
    intermediateTtlDays: z.number().int().min(1).max(365).default(30),
    /** Tolerated clock difference when checking notBefore/notAfter and JWT times. */
    clockSkewSeconds: z.number().int().min(0).max(600).default(30),
    /**
     * DNS names a remote gateway (PEP token) may put on its listener SVID; `*.example.com` matches
     * one label. Anything else is refused, so a compromised gateway cannot obtain a certificate for
     * the control plane's or another service's name.
     */
    gatewayDnsNames: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9.-]{1,253}$/)).max(64).default(['localhost']),
    /**
     * How long records of issued certificates (`warden identity list --all`) are kept after the
     * certificate expired; pruned hourly. Revocations are kept separately and are not affected.
     */
    issuedRetentionDays: z.number().int().min(1).max(3650).default(7),
    /** Default one-time join token lifetime (seconds). */
    joinTokenTtlSeconds: z.number().int().min(10).max(30 * 86400).default(600),
    /** Kubernetes projected service-account token attestation. */
    k8s: z
      .strictObject({
        /** Expected `iss` of the service-account tokens; empty disables the attestor. */
        issuer: z.string().default(''),
        /** JWKS URL of the issuer (https), or… */
        jwksUrl: z.string().default(''),
        /** …a local JWKS file. */
        jwksFile: z.string().default(''),
        /** Expected `aud`. */
        audience: z.string().default('warden'),
      })
      .prefault({}),
    /**
     * "SVID used from a new address": the control plane's workload API (renew, JWT-SVIDs,
     * revocation feed) remembers the source addresses each X.509-SVID was used from and raises
     * the `svid-new-address` detector alarm when a valid SVID shows up from another one.
     */
    addressTracking: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Addresses never tracked nor alarmed (NAT pools, load balancers, dual-stack hosts). */
        ignoreCidrs: z
          .array(z.string().max(64).regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'an IP address or CIDR, e.g. 10.0.0.0/8'))
          .max(256)
          .default([]),
        /** SVIDs remembered (least recently used forgotten beyond this; forgotten = learned again). */
        maxSvids: z.number().int().min(100).max(10_000_000).default(100_000),
        /** Addresses remembered per SVID (least recently used forgotten beyond this). */
        maxAddressesPerSvid: z.number().int().min(1).max(1024).default(8),
        /**
         * The request from the new address waits this long for the alert rule (and its runbook)
         * so a quarantined SVID gets no answer at all; past it the request is refused with 503
         * WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED. 0 = answer at once, alert in the background.
         */
        holdMs: z.number().int().min(0).max(30_000).default(5000),
      })
      .prefault({}),
    /** Sidecar PEP (`warden gateway --mode sidecar`). */
    sidecar: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        /** Inbound mTLS port. */
        port: z.number().int().min(0).max(65535).default(15443),
        /** Local plain-HTTP port the workload sends outbound calls to. */
        outboundPort: z.number().int().min(0).max(65535).default(15001),
        /** The local workload, e.g. http://127.0.0.1:9000 */
        upstreamUrl: z.string().default('http://127.0.0.1:9000'),
        /** Directory written by `warden agent` (svid.pem, svid.key, bundle.pem). */
        svidDir: z.string().default(''),
        /** Fail closed (503) when the revocation stream has been silent this long (heartbeats come every 5 s). */
        revocationMaxStaleSeconds: z.number().int().min(10).max(86_400).default(300),
        /** Environment name put into the segmentation context. */
        environment: z.string().default(''),
        /** Segmentation allow-list (default deny). */
        allow: z.array(segmentationRule).default([]),
        outbound: z.array(outboundRoute).default([]),
      })
      .prefault({}),
  })
  .prefault({});

export type IdentityConfig = z.infer<typeof identitySection>;
export type SegmentationRule = z.infer<typeof segmentationRule>;
export type OutboundRoute = z.infer<typeof outboundRoute>;

import { z } from 'zod';

export const upstreamConfig = z.strictObject({
  name: z.string().min(1),
  /** Base URL of the model server, e.g. http://127.0.0.1:9000 */
  url: z.url(),
  /** Model names routed to this upstream; "*" matches any. */
  models: z.array(z.string().min(1)).default(['*']),
  /**
   * Deadline for the model server's response headers, counted from the start of the call (time
   * queued for a free connection included); also the longest silence within an answer, and the
   * longest the gateway waits for a client that stopped reading it.
   */
  timeoutMs: z.number().int().min(1).max(600_000).default(60_000),
  /**
   * Longest a whole call may take, answer included (a stream that never ends, a model that trickles
   * a token just often enough to beat timeoutMs); null = no cap. At least timeoutMs.
   */
  maxDurationMs: z.number().int().min(1).max(86_400_000).nullable().default(600_000),
  /** Keep-alive connections to this upstream; requests beyond them wait (within timeoutMs) for a free one. */
  connections: z.number().int().min(1).max(4096).default(64),
  /** Data classification of what this upstream serves; passed to policies as context.classification. */
  classification: z.enum(['public', 'internal', 'confidential', 'restricted']).default('internal'),
  /** Extra attempts when the connection to the model server could not be opened (nothing was sent yet). */
  retries: z.number().int().min(0).max(5).default(1),
  /** Open the circuit after this many consecutive failures (connect errors, timeouts, 502/503/504); fail fast while open. */
  circuitBreaker: z
    .strictObject({
      failureThreshold: z.number().int().min(1).max(1000).default(5),
      /** How long the circuit stays open before one trial request is let through. */
      openMs: z.number().int().min(100).max(600_000).default(10_000),
    })
    .prefault({}),
  /**
   * Refuse answers that do not report the served model's manifest digest (`x-warden-model-digest`)
   * with WARDEN_ADMISSION_DIGEST_MISSING, instead of trusting the registry's pin. Turn on for model
   * servers that can report it (`warden demo serve`, a Warden sidecar that hashes the model).
   */
  requireModelDigest: z.boolean().default(false),
  /**
   * On streams that a tokens-per-minute limit applies to, ask the upstream for `usage`
   * (`stream_options.include_usage`; removed again before the client sees it). Turn off for servers
   * that reject `stream_options`: completion tokens are then estimated from the streamed text.
   */
  requestStreamUsage: z.boolean().default(true),
  /** Active health check (GET path, 2xx = healthy); null = none, the circuit breaker still applies. */
  healthCheck: z
    .strictObject({
      path: z.string().regex(/^\/[\x21-\x7e]{0,255}$/),
      intervalMs: z.number().int().min(100).max(600_000).default(5000),
      timeoutMs: z.number().int().min(50).max(60_000).default(2000),
    })
    .nullable()
    .default(null),
  /**
   * The upstream is a SPIFFE workload, e.g. a Warden sidecar (`https://` URL): mutual TLS with the
   * gateway's own SVID, and the upstream's SVID must carry `spiffeId` (null: any ID in the trust domain).
   */
  mtls: z
    .strictObject({ spiffeId: z.string().startsWith('spiffe://').max(2048).nullable().default(null) })
    .nullable()
    .default(null),
})
  .refine((u) => !u.mtls || u.url.startsWith('https://'), { message: 'an upstream with mtls needs an https:// url', path: ['url'] })
  .refine((u) => u.maxDurationMs === null || u.maxDurationMs >= u.timeoutMs, { message: 'must be at least timeoutMs (or null for no cap)', path: ['maxDurationMs'] });

/** Types Warden's own authenticators and resources use: an IdP's claims must never become one. */
const RESERVED_ENTITY_TYPES = ['Service', 'ApiKey', 'Model', 'ModelVersion', 'Dataset', 'Action'];
const jwtEntityType = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
  .refine((t) => !RESERVED_ENTITY_TYPES.includes(t), { message: `must not be one of Warden's own entity types (${RESERVED_ENTITY_TYPES.join(', ')})` });

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

/**
 * Why a JWKS URL may not be used, or null. Keys fetched over plain HTTP could be swapped by anyone
 * on the path; only loopback may skip TLS. Checked in the schema (so the error names the config
 * path) and again by JwksCache for callers that build one without the schema.
 */
export function jwksUriProblem(uri: string): string | null {
  if (!URL.canParse(uri)) return 'must be a URL';
  const url = new URL(uri);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) return null;
  return `must use https (got ${url.protocol}//${url.hostname}); plain http is accepted only for a loopback address`;
}

const jwtIssuerSchema = z.strictObject({
  /** Expected `iss` claim; tokens are dispatched to an issuer by their (unverified) `iss`. */
  issuer: z.string().min(1),
  /** Accepted `aud` values (any one must match). */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  jwksUri: z.url().superRefine((uri, ctx) => {
    // An unparsable value is z.url()'s to report.
    const problem = URL.canParse(uri) ? jwksUriProblem(uri) : null;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  clockSkewSeconds: z.number().int().min(0).max(300).default(30),
  /** How long fetched keys stay usable while the JWKS endpoint is down; after that, fail closed. */
  jwksCacheMaxAgeSeconds: z.number().int().min(60).max(7 * 86400).default(3600),
  /** Background refresh interval of the JWKS. */
  jwksRefreshSeconds: z.number().int().min(10).max(86400).default(300),
  /** Lowest interval between fetches triggered by an unknown `kid` (no refetch storm). */
  jwksMinRefetchSeconds: z.number().int().min(1).max(3600).default(30),
  /** PEM file of the CA(s) that sign the JWKS endpoint's certificate (an IdP with an internal CA); default: the system store. */
  jwksCaFile: z.string().min(1).optional(),
  allowedAlgorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1).default(['RS256', 'ES256']),
  /** Cedar entity types of the subject (`User::"<sub>"`), its groups and its tenant; distinct per issuer when there are several. */
  principalType: jwtEntityType.default('User'),
  groupType: jwtEntityType.default('Group'),
  tenantType: jwtEntityType.default('Tenant'),
  groupsClaim: z.string().min(1).default('groups'),
  tenantClaim: z.string().min(1).default('tenant'),
  /** `acr` values that prove a second factor (context.mfa); `amr` containing `mfa` always does. */
  mfaAcrValues: z.array(z.string().min(1).max(256)).max(32).default([]),
});

const rateLimitRuleSchema = z.strictObject({
  /** Which requests the rule applies to; an omitted field matches anything, "*" means "per value". */
  match: z
    .strictObject({ principal: z.string().min(1).optional(), key: z.string().min(1).optional(), tenant: z.string().min(1).optional(), model: z.string().min(1).optional() })
    .prefault({}),
  requestsPerMinute: z.number().positive().max(1e9).optional(),
  tokensPerMinute: z.number().positive().max(1e12).optional(),
  concurrent: z.number().int().positive().max(1e6).optional(),
  /** Request-bucket size; default 10 s of traffic (requestsPerMinute / 6), at least 1. */
  burst: z.number().positive().max(1e12).optional(),
  /** Token-bucket size; default 10 s of traffic (tokensPerMinute / 6). */
  tokensBurst: z.number().positive().max(1e12).optional(),
});

export const gatewaySection = z
  .strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8443),
    /** Largest request body accepted, in bytes. */
    maxBodyBytes: z.number().int().min(1).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Idle client connections close after this long (keep longer than your load balancer's idle timeout). */
    idleTimeoutSeconds: z.number().int().min(1).max(3600).default(65),
    /** A request's headers must arrive within this long (HTTP/1.1 and HTTP/2); a slower connection is closed. */
    headersTimeoutSeconds: z.number().int().min(1).max(300).default(60),
    /** The request body must arrive within this long of the request start (slow uploads get 408). */
    bodyTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
    /** Open client connections at most; more are refused when accepted. Keep below the process's file-descriptor limit. */
    maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
    /**
     * Open client connections at most from one source (an IPv4 address, an IPv6 /64); more are
     * refused when accepted, so one client cannot take every slot of maxConnections. 0: no per-source limit.
     * Keep it well below maxConnections, and raise it when clients arrive through a proxy or NAT (one source for many).
     */
    maxConnectionsPerSource: z.number().int().min(0).max(1_000_000).default(1000),
    /** Serve plain HTTP instead of TLS (development only). */
    insecureDev: z.boolean().default(false),
    /** Region this gateway runs in; passed to policies as context.region (data residency). */
    region: z.string().min(1).max(64).default('local'),
    upstreams: z.array(upstreamConfig).superRefine(checkUpstreams).default([]),
    /** Bearer-token and workload authentication (API keys are always on). */
    authn: z
      .strictObject({
        jwtIssuers: z.array(jwtIssuerSchema).superRefine(checkJwtIssuers).default([]),
        /** Accept Warden JWT-SVIDs whose `aud` contains this value (null: JWT-SVIDs not accepted). */
        jwtSvidAudience: z.string().min(1).nullable().default(null),
        /** Accept X.509-SVID client certificates (mTLS) as credentials. */
        mtls: z.boolean().default(false),
        /**
         * `warden gateway` only: how long workload credentials are still accepted after the
         * revocation stream from the control plane drops or falls silent (then they are refused
         * until it is back); at least two of its 5 s heartbeats.
         */
        revocationMaxStaleSeconds: z.number().int().min(10).max(3600).default(30),
      })
      .prefault({}),
    rateLimit: z
      .strictObject({
        backend: z.enum(['memory', 'redis']).default('memory'),
        redisUrl: z.string().min(1).default('redis://127.0.0.1:6379'),
        redisKeyPrefix: z.string().min(1).max(64).default('warden:rl:'),
        /** When Redis is unreachable: refuse (503) or use this replica's memory limiter. */
        onStoreDown: z.enum(['fail-closed', 'memory']).default('fail-closed'),
        /** Per-call budget for Redis, in ms; slower answers count as "store down". */
        redisTimeoutMs: z.number().int().min(1).max(10_000).default(50),
        /** Most buckets kept in memory (least recently used are evicted). */
        maxKeys: z.number().int().min(100).max(10_000_000).default(100_000),
        /**
         * Redis: a concurrency slot frees itself this long after its replica last renewed it
         * (held slots are renewed every third of it), i.e. after the replica crashed.
         */
        concurrencyLeaseSeconds: z.number().int().min(1).max(86_400).default(900),
        /**
         * Completion tokens a chat or completions call reserves from tokens/min buckets at
         * admission when it sets no max_tokens (the unused part is refunded once usage is known).
         * 1024: more than most chat answers, yet ~10 such calls fit the default 10 s burst of 60k/min.
         */
        completionReserveTokens: z.number().int().min(0).max(10_000_000).default(1024),
        /**
         * Most completion tokens one call reserves, whatever its max_tokens × n. 32768: above the
         * output limit of current models, so honest max_tokens values are reserved in full.
         */
        maxCompletionReserveTokens: z.number().int().min(0).max(10_000_000).default(32_768),
        rules: z.array(rateLimitRuleSchema).default([]),
      })
      .refine((r) => r.completionReserveTokens <= r.maxCompletionReserveTokens, {
        path: ['completionReserveTokens'],
        message: 'must not exceed maxCompletionReserveTokens',
      })
      .prefault({}),
    /** Schema and size limits on request bodies (400 WARDEN_GATEWAY_INVALID_REQUEST). */
    validation: z
      .strictObject({
        maxJsonDepth: z.number().int().min(2).max(1000).default(64),
        maxMessages: z.number().int().min(1).max(100_000).default(1024),
        maxTokensCeiling: z.number().int().min(1).max(10_000_000).default(131_072),
        maxStringLength: z.number().int().min(1).max(64 * 1024 * 1024).default(1_048_576),
        maxInputElements: z.number().int().min(1).max(1e9).default(1_000_000),
        maxInputs: z.number().int().min(1).max(10_000).default(64),
      })
      .prefault({}),
  })
  .refine((g) => !g.insecureDev || isLoopbackHost(g.host), {
    path: ['insecureDev'],
    message: 'plain HTTP is for development on this machine only: set gateway.host to a loopback address (127.0.0.1, ::1, localhost) or turn TLS back on',
  })
  .prefault({});

/** API keys and bearer tokens cross a plain-HTTP listener in clear text: only loopback may carry them. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Routing must be unambiguous: the first match used to win silently, so a model listed on a
 * public and on a restricted upstream was served (and classified) by whichever came first.
 * Credentials in a URL would be dropped (only the origin is used): refused, not ignored.
 */
function checkUpstreams(upstreams: readonly { name: string; url: string; models: string[] }[], ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  const routedBy = new Map<string, string>();
  upstreams.forEach((u, i) => {
    if (names.has(u.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `two upstreams are named ${JSON.stringify(u.name)}` });
    names.add(u.name);
    const url = new URL(u.url);
    if (url.username || url.password) ctx.addIssue({ code: 'custom', path: [i, 'url'], message: 'credentials in an upstream url are not used; remove them' });
    for (const model of u.models) {
      const other = routedBy.get(model);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'models'], message: `model ${JSON.stringify(model)} is routed to both ${JSON.stringify(other)} and ${JSON.stringify(u.name)}` });
      else routedBy.set(model, u.name);
    }
  });
}

/**
 * Each issuer speaks only for its own names: with a shared `User` type, issuer B could mint
 * `sub: "alice"` and be issuer A's alice, and claim A's groups and tenants. So the entity types
 * of two issuers (subject, group and tenant types alike) must not overlap.
 */
function checkJwtIssuers(issuers: readonly { issuer: string; principalType: string; groupType: string; tenantType: string }[], ctx: z.RefinementCtx): void {
  const owner = new Map<string, string>();
  issuers.forEach((o, i) => {
    if (issuers.findIndex((x) => x.issuer === o.issuer) < i) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `issuer ${JSON.stringify(o.issuer)} is configured twice` });
    for (const field of ['principalType', 'groupType', 'tenantType'] as const) {
      const other = owner.get(o[field]);
      if (other !== undefined && other !== o.issuer) {
        ctx.addIssue({ code: 'custom', path: [i, field], message: `entity type ${o[field]} is already used by issuer ${JSON.stringify(other)}: give each issuer its own principalType, groupType and tenantType so one IdP cannot speak for another's users, groups or tenants` });
      } else owner.set(o[field], o.issuer);
    }
  });
}

export type UpstreamConfig = z.infer<typeof upstreamConfig>;
export type JwtIssuerConfig = z.infer<typeof jwtIssuerSchema>;
export type RateLimitRuleConfig = z.infer<typeof rateLimitRuleSchema>;

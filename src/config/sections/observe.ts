import { z } from 'zod';

const tracingSection = z
  .strictObject({
    /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. Empty = tracing off (zero cost). */
    endpoint: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
    serviceName: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).default('warden'),
    /** Fraction of new traces sampled (parent decisions are honoured). */
    sampleRatio: z.number().min(0).max(1).default(1),
    /** Extra headers for the exporter (e.g. an auth token); never logged. */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(4096)).default({}),
    timeoutMs: z.number().int().min(100).max(60_000).default(5000),
  })
  .prefault({});

/** The shortest metrics token accepted. */
export const MIN_METRICS_TOKEN_LENGTH = 32;

export const observeSection = z
  .strictObject({
    /** Serve Prometheus /metrics on the admin API and the gateway. */
    metricsEnabled: z.boolean().default(true),
    /**
     * Bearer token required on /metrics. Empty: the admin listener serves it without a token (keep
     * it on loopback or firewall it) and the gateway listener refuses every scrape (its series name
     * every model, and clients reach it).
     */
    // A scrape is not rate-limited or audited, so the token must be too long to guess (16+ bytes of entropy as hex).
    metricsToken: z
      .string()
      .max(256)
      .refine((t) => t === '' || t.length >= MIN_METRICS_TOKEN_LENGTH, { message: `must be empty (no token) or at least ${MIN_METRICS_TOKEN_LENGTH} characters, e.g. \`openssl rand -hex 32\`` })
      .default(''),
    /** Process metrics (CPU, memory, event loop lag) from prom-client. */
    processMetrics: z.boolean().default(true),
    tracing: tracingSection,
  })
  .prefault({});

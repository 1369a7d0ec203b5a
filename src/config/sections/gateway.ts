import { z } from 'zod';

const upstreamSchema = z.strictObject({
  name: z.string().min(1),
  /** Base URL of the model server, e.g. http://127.0.0.1:9000 */
  url: z.url(),
  /** Model names routed to this upstream; "*" matches any. */
  models: z.array(z.string().min(1)).default(['*']),
  timeoutMs: z.number().int().min(1).max(600_000).default(60_000),
});

export const gatewaySection = z
  .strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8443),
    /** Largest request body accepted, in bytes. */
    maxBodyBytes: z.number().int().min(1).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Serve plain HTTP instead of TLS (development only). */
    insecureDev: z.boolean().default(false),
    /** Region this gateway runs in; passed to policies as context.region (data residency). */
    region: z.string().min(1).max(64).default('local'),
    upstreams: z.array(upstreamSchema).default([]),
  })
  .prefault({});

export type UpstreamConfig = z.infer<typeof upstreamSchema>;

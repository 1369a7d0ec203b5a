import { z } from 'zod';

export const serverSection = z
  .strictObject({
    /** Admin API listen address. */
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7443),
    /** Trust domain name (spiffe://<trustDomain>). */
    trustDomain: z.string().regex(/^[a-z0-9._-]+$/, 'lowercase letters, digits, dot, dash, underscore').default('warden.local'),
    /** Extra DNS names / IPs put into the listener certificates. */
    hostnames: z.array(z.string()).default(['localhost', '127.0.0.1', '::1']),
    /**
     * A request (headers and body) must arrive within this long, else Node answers 408 and closes
     * the connection. Fastify switches Node's own 5-minute default off; this puts it back.
     */
    requestTimeoutSeconds: z.number().int().min(1).max(3600).default(300),
    /** Open admin API connections at most (agents, sidecars, PEPs, the CLI); more are refused when accepted. */
    maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Seconds to wait for in-flight requests on shutdown. */
    shutdownGraceSeconds: z.number().min(0).max(600).default(10),
  })
  .prefault({});

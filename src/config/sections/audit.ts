import { z } from 'zod';

export const auditSection = z
  .strictObject({
    /** Flush the queue when this many records are waiting. */
    batchSize: z.number().int().min(1).max(100_000).default(512),
    /** Flush at least this often (ms). */
    flushIntervalMs: z.number().int().min(1).max(60_000).default(20),
    /** Bounded queue length; producers wait (backpressure) when it is full. */
    queueLimit: z.number().int().min(1).max(10_000_000).default(65_536),
    /** fsync after every batch (durable) or never (fast, may lose the tail on power loss). */
    fsync: z.enum(['batch', 'none']).default('batch'),
  })
  .prefault({});

import { z } from 'zod';

export const scanSection = z
  .strictObject({
    /** Exit 1 when a finding is at or above this severity (`none`: never). */
    failOn: z.enum(['critical', 'high', 'medium', 'low', 'info', 'none']).default('high'),
    /** Compute each file's SHA-256 while scanning. */
    hash: z.boolean().default(true),
    /** Archive nesting depth (zip in zip...). */
    maxDepth: z.number().int().min(1).max(32).default(5),
    /** Members per archive. */
    maxEntries: z.number().int().min(1).max(10_000_000).default(100_000),
    /** Declared uncompressed:compressed ratio above which a member is a zip bomb. */
    maxCompressionRatio: z.number().min(2).max(100_000).default(200),
    /** Total bytes inflated per scanned file. */
    maxInflatedBytes: z.number().int().min(1).default(8 * 1024 ** 3),
    /** Largest compressed member buffered in memory when its format needs random access. */
    maxBufferedBytes: z.number().int().min(1).default(256 * 1024 ** 2),
    /** Largest JSON document parsed (safetensors headers, configs). */
    maxJsonBytes: z.number().int().min(1).max(1_000_000_000).default(100_000_000),
  })
  .prefault({});

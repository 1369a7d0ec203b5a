import { z } from 'zod';

export const databaseSection = z
  .strictObject({
    /** postgres://… to use PostgreSQL; empty means embedded PGlite in the data dir. */
    url: z.string().default(''),
    /** Connection pool size for PostgreSQL. */
    poolSize: z.number().int().min(1).max(200).default(10),
  })
  .prefault({});

import { z } from 'zod';

export const policySection = z
  .strictObject({
    /** Decisions a PEP keeps in its decision cache, keyed on the full request (0 disables it). */
    cacheSize: z.number().int().min(0).max(10_000_000).default(10_000),
    /** Accept policy sets that use constructs the compiled evaluator hands to cedar-wasm (slower). */
    allowFallback: z.boolean().default(true),
    /** Resource types whose unconditional permits the analyzer reports (entities classified confidential/restricted are always sensitive). */
    sensitiveResourceTypes: z.array(z.string().min(1).max(128)).max(100).default(['Dataset', 'Feature']),
    /** Actions the analyzer treats as sensitive when granted on every resource. */
    sensitiveActions: z.array(z.string().min(1).max(128)).max(1000).default(['writeDataset', 'registerModel', 'deployModel', 'admin']),
    /** The analyzer reports permits not used by any allowed request in this many days. */
    unusedGrantDays: z.number().int().min(1).max(3650).default(90),
  })
  .prefault({});

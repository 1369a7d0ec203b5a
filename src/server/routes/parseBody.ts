import type { z } from 'zod';
import { WardenError } from '../../errors/index.js';

/** Validates a request body or query with zod; the first issue becomes a WARDEN_INPUT_INVALID naming its path. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new WardenError('WARDEN_INPUT_INVALID', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

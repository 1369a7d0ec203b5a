import { z } from 'zod';
import { WardenError } from '../errors/index.js';
import { constantTimeEqual } from '../crypto/index.js';
import { ApiKeyRepository, hashApiKey, parseApiKey, type Database } from '../store/index.js';
import type { Alarm } from './types.js';

/**
 * Leaked-credential reports, in the shape secret-scanning services post (GitHub's partner
 * program: `[{ token, type, url, source }]`). A report is only an alarm when the token really is
 * a live Warden key: the HMAC must match, so guessing prefixes reveals nothing.
 */
export const leakReportSchema = z
  .array(
    z.strictObject({
      token: z.string().min(1).max(512),
      type: z.string().max(64).optional(),
      url: z.string().max(2048).optional(),
      source: z.string().max(64).optional(),
    }),
  )
  .min(1)
  .max(100);

export interface LeakMatch {
  index: number;
  /** True when the token is a Warden API key known to this control plane. */
  match: boolean;
  keyId?: string;
  alreadyRevoked?: boolean;
}

export async function matchLeakReport(db: Database, serverSecret: Uint8Array, body: unknown, receivedAt: number, drill = false): Promise<{ matches: LeakMatch[]; alarms: Alarm[] }> {
  const parsed = leakReportSchema.safeParse(body);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new WardenError('WARDEN_RESPOND_LEAK_REPORT_INVALID', `${i.path.join('.') || 'body'}: ${i.message}`);
  }
  const verifiers = new Map((await new ApiKeyRepository(db, serverSecret).listVerifiers()).map((v) => [v.prefix, v]));
  const matches: LeakMatch[] = [];
  const alarms: Alarm[] = [];
  for (const [index, item] of parsed.data.entries()) {
    const p = parseApiKey(item.token.trim());
    const v = p ? verifiers.get(p.prefix) : undefined;
    if (!v || !constantTimeEqual(hashApiKey(serverSecret, item.token.trim()), v.hash)) {
      matches.push({ index, match: false });
      continue;
    }
    matches.push({ index, match: true, keyId: v.id, alreadyRevoked: v.revokedAt !== null });
    const details: Alarm['details'] = { key: v.id, keyName: v.name, source: (item.source ?? 'report').slice(0, 64) };
    // The URL says where it leaked (useful to responders); it is not a secret.
    if (item.url) details.leakUrl = item.url.slice(0, 2048);
    if (drill) details.drill = true;
    alarms.push({ type: 'detector.alarm', detector: 'leaked-credential', principal: v.principal, details, receivedAt });
  }
  return { matches, alarms };
}

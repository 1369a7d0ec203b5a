import { z } from 'zod';
import { WardenError } from '../errors/index.js';
import { constantTimeEqual } from '../crypto/index.js';
import { ADMIN_TOKEN_PATTERN, AdminTokenRepository, ApiKeyRepository, announceChange, hashApiKey, parseApiKey, type AdminTokenRole, type Database } from '../store/index.js';
import type { Alarm } from './types.js';

/**
 * Leaked-credential reports, in the shape secret-scanning services post (GitHub's partner
 * program: `[{ token, type, url, source }]`). A report is only an alarm when the token really is
 * a live Warden key or admin/PEP token: the HMAC must match, so guessing prefixes reveals nothing.
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
  /** A leaked admin or PEP token (`wdt_`) instead: its id (revoked by revokeLeakedTokens). */
  tokenId?: string;
  alreadyRevoked?: boolean;
}

export interface LeakedToken {
  id: string;
  role: AdminTokenRole;
}

export async function matchLeakReport(db: Database, serverSecret: Uint8Array, body: unknown, receivedAt: number, drill = false): Promise<{ matches: LeakMatch[]; alarms: Alarm[]; tokens: LeakedToken[] }> {
  const parsed = leakReportSchema.safeParse(body);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new WardenError('WARDEN_RESPOND_LEAK_REPORT_INVALID', `${i.path.join('.') || 'body'}: ${i.message}`);
  }
  const verifiers = new Map((await new ApiKeyRepository(db, serverSecret).listVerifiers()).map((v) => [v.prefix, v]));
  const tokenRepo = new AdminTokenRepository(db, serverSecret);
  const matches: LeakMatch[] = [];
  const alarms: Alarm[] = [];
  const tokens: LeakedToken[] = [];
  // One alarm per key however often a report lists it: each alarm is a critical incident.
  const alarmed = new Set<string>();
  for (const [index, item] of parsed.data.entries()) {
    if (ADMIN_TOKEN_PATTERN.test(item.token.trim())) {
      // Admin and PEP tokens are verified by their HMAC like keys (the repository checks it).
      const t = await tokenRepo.verify(item.token.trim());
      const id = ADMIN_TOKEN_PATTERN.exec(item.token.trim())![1]!;
      if (t === null) matches.push({ index, match: false });
      else matches.push({ index, match: true, tokenId: id, alreadyRevoked: t === 'revoked' });
      if (t !== null && t !== 'revoked' && !tokens.some((x) => x.id === id)) tokens.push(t);
      continue;
    }
    const p = parseApiKey(item.token.trim());
    const v = p ? verifiers.get(p.prefix) : undefined;
    if (!v || !constantTimeEqual(hashApiKey(serverSecret, item.token.trim()), v.hash)) {
      matches.push({ index, match: false });
      continue;
    }
    matches.push({ index, match: true, keyId: v.id, alreadyRevoked: v.revokedAt !== null });
    if (alarmed.has(v.id)) continue;
    alarmed.add(v.id);
    const details: Alarm['details'] = { key: v.id, keyName: v.name, source: (item.source ?? 'report').slice(0, 64) };
    // The URL says where it leaked (useful to responders); it is not a secret.
    if (item.url) details.leakUrl = item.url.slice(0, 2048);
    if (drill) details.drill = true;
    alarms.push({ type: 'detector.alarm', detector: 'leaked-credential', principal: v.principal, details, receivedAt });
  }
  return { matches, alarms, tokens };
}

/**
 * Revokes leaked admin/PEP tokens at once (no runbook: a leaked admin token is the whole admin
 * API), each audited as `leak.token.revoked`. PEP tokens' snapshot streams end on every replica.
 */
export async function revokeLeakedTokens(
  deps: { db: Database; serverSecret: Uint8Array; audit: (action: string, details: Record<string, unknown>) => Promise<void>; pepTokensChanged: () => void },
  tokens: LeakedToken[],
): Promise<void> {
  const repo = new AdminTokenRepository(deps.db, deps.serverSecret);
  for (const t of tokens) {
    if (!(await repo.revoke(t.id, t.role))) continue;
    await deps.audit('leak.token.revoked', { tokenId: t.id, role: t.role });
    if (t.role === 'pep') {
      deps.pepTokensChanged();
      await announceChange(deps.db, 'pep-tokens');
    }
  }
}

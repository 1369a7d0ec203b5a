import { WardenError } from '../../errors/index.js';
import { constantTimeEqual } from '../../crypto/index.js';
import { hashApiKey, parseApiKey } from '../../store/index.js';
import type { RequestContext } from '../RequestContext.js';

function presentedApiKey(ctx: RequestContext): string | null {
  const auth = ctx.req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new WardenError('WARDEN_AUTHN_MALFORMED', 'Authorization header must be "Bearer <credential>"');
    return m[1]!;
  }
  const header = ctx.req.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : null;
}

/** Stage 2: API-key authentication against the snapshot's key hashes (HMAC, constant-time). */
export function authenticate(ctx: RequestContext, serverSecret: Uint8Array, now = Date.now()): void {
  const key = presentedApiKey(ctx);
  if (!key) throw new WardenError('WARDEN_AUTHN_MISSING', 'send an API key as "Authorization: Bearer <key>"');
  const parsed = parseApiKey(key);
  if (!parsed) throw new WardenError('WARDEN_AUTHN_KEY_INVALID', 'the API key is not valid');
  const record = ctx.snapshot.apiKeys.get(parsed.prefix);
  // Hash even when the prefix is unknown so timing does not reveal which prefixes exist.
  const hash = hashApiKey(serverSecret, key);
  if (!record || !constantTimeEqual(hash, record.hash)) throw new WardenError('WARDEN_AUTHN_KEY_INVALID', 'the API key is not valid');
  if (record.revokedAt && record.revokedAt.getTime() <= now) throw new WardenError('WARDEN_AUTHN_KEY_REVOKED', 'the API key has been revoked');
  if (record.expiresAt && record.expiresAt.getTime() <= now) throw new WardenError('WARDEN_AUTHN_KEY_EXPIRED', 'the API key has expired');
  const { type, id } = parseEntity(record.principal);
  ctx.principal = { entity: { type, id }, id: record.id, method: 'api-key', parents: [] };
}

/** Parses `Type::"id"` (Cedar entity syntax). */
export function parseEntity(text: string): { type: string; id: string } {
  const m = /^([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)::"((?:[^"\\]|\\.)*)"$/.exec(text);
  if (!m) return { type: 'ApiKey', id: text };
  return { type: m[1]!, id: JSON.parse(`"${m[2]!}"`) as string };
}

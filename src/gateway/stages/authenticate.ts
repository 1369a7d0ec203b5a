import { WardenError } from '../../errors/index.js';
import { constantTimeEqual } from '../../crypto/index.js';
import { hashApiKey, parseApiKey } from '../../store/index.js';
import { parseEntityRef } from '../../policy/index.js';
import type { Authenticators } from '../authn/index.js';
import type { RequestContext } from '../RequestContext.js';

function presentedCredential(ctx: RequestContext): string | null {
  const auth = ctx.req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new WardenError('WARDEN_AUTHN_MALFORMED', 'Authorization header must be "Bearer <credential>"');
    return m[1]!;
  }
  const header = ctx.req.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : null;
}

/** API keys: the prefix finds the record in the snapshot, the HMAC (constant-time) proves the secret. */
export function authenticateApiKey(ctx: RequestContext, key: string, serverSecret: Uint8Array, now = Date.now()): void {
  const parsed = parseApiKey(key);
  if (!parsed) throw new WardenError('WARDEN_AUTHN_KEY_INVALID', 'the API key is not valid');
  const record = ctx.snapshot.apiKeys.get(parsed.prefix);
  // Hash even when the prefix is unknown so timing does not reveal which prefixes exist.
  const hash = hashApiKey(serverSecret, key);
  if (!record || !constantTimeEqual(hash, record.hash)) throw new WardenError('WARDEN_AUTHN_KEY_INVALID', 'the API key is not valid');
  if (record.revokedAt && record.revokedAt.getTime() <= now) throw new WardenError('WARDEN_AUTHN_KEY_REVOKED', 'the API key has been revoked');
  if (record.expiresAt && record.expiresAt.getTime() <= now) throw new WardenError('WARDEN_AUTHN_KEY_EXPIRED', 'the API key has expired');
  let entity;
  try {
    entity = parseEntityRef(record.principal);
  } catch {
    entity = { type: 'ApiKey', id: record.name };
  }
  ctx.principal = { entity, id: record.id, method: 'api-key', parents: [] };
}

/**
 * Stage 2: who is calling. A verified client SVID (mTLS) wins; otherwise the bearer credential is
 * a JWT (OIDC issuer or JWT-SVID) or a Warden API key. At most one await (JWKS-backed JWTs).
 */
export async function authenticate(ctx: RequestContext, serverSecret: Uint8Array, authn: Authenticators | null): Promise<void> {
  if (authn?.mtls) {
    const peer = authn.mtls.authenticateRequest(ctx.req);
    if (peer) {
      ctx.principal = peer;
      return;
    }
  }
  const credential = presentedCredential(ctx);
  if (!credential) throw new WardenError('WARDEN_AUTHN_MISSING', 'send an API key as "Authorization: Bearer <key>"');
  if (authn) {
    const principal = await authn.bearer.authenticate(credential);
    if (principal) {
      ctx.principal = principal;
      return;
    }
  }
  authenticateApiKey(ctx, credential, serverSecret);
}

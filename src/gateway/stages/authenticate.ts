import { hash, timingSafeEqual } from 'node:crypto';
import { WardenError } from '../../errors/index.js';
import { constantTimeEqual } from '../../crypto/index.js';
import { hashApiKey, parseApiKey, type ApiKeyVerifier } from '../../store/index.js';
import { parseEntityRef, type EntityRef } from '../../policy/index.js';
import type { Authenticators } from '../authn/index.js';
import type { Principal, RequestContext } from '../RequestContext.js';

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

/**
 * Keys that already verified against a snapshot record, by SHA-256 of the key (never the key):
 * a plain hash is ~8× cheaper than the HMAC and, for a 256-bit random secret, as irreversible.
 * Keyed by the record object, so a new snapshot (revocation, rotation) starts empty, and only
 * keys that verified are remembered, so random guesses cannot grow it.
 */
const verified = new WeakMap<ApiKeyVerifier, { keyDigest: Buffer; entity: EntityRef }>();

function principalEntity(record: ApiKeyVerifier): EntityRef {
  try {
    return parseEntityRef(record.principal);
  } catch {
    return { type: 'ApiKey', id: record.name };
  }
}

/** API keys: the prefix finds the record in the snapshot, the HMAC (constant-time) proves the secret. */
export function authenticateApiKey(ctx: RequestContext, key: string, serverSecret: Uint8Array, now = Date.now()): void {
  const parsed = parseApiKey(key);
  if (!parsed) throw new WardenError('WARDEN_AUTHN_KEY_INVALID', 'the API key is not valid');
  const record = ctx.snapshot.apiKeys.get(parsed.prefix);
  const keyDigest = hash('sha256', key, 'buffer');
  let known = record ? verified.get(record) : undefined;
  // Both digests are 32 bytes: timingSafeEqual compares them in constant time.
  if (!record || !known || !timingSafeEqual(keyDigest, known.keyDigest)) {
    // Hash even when the prefix is unknown so timing does not reveal which prefixes exist.
    const hmac = hashApiKey(serverSecret, key);
    if (!record || !constantTimeEqual(hmac, record.hash)) throw new WardenError('WARDEN_AUTHN_KEY_INVALID', 'the API key is not valid');
    known = { keyDigest, entity: Object.freeze(principalEntity(record)) };
    verified.set(record, known);
  }
  // Revoked is revoked, whatever the time it carries: it is stamped by the control plane's clock,
  // and a gateway whose clock is behind would otherwise accept the key until it caught up.
  if (record.revokedAt) throw new WardenError('WARDEN_AUTHN_KEY_REVOKED', 'the API key has been revoked');
  if (record.expiresAt && record.expiresAt.getTime() <= now) throw new WardenError('WARDEN_AUTHN_KEY_EXPIRED', 'the API key has expired');
  ctx.principal = { entity: known.entity, id: record.id, method: 'api-key', parents: [], keyPrefix: record.prefix };
}

/**
 * Stage 2: who is calling. A verified client SVID (mTLS) wins; otherwise the bearer credential is
 * a JWT (OIDC issuer or JWT-SVID) or a Warden API key. At most one await (JWKS-backed JWTs), more only for a
 * workload credential refused for an unknown key or root (one rate-limited bundle refetch).
 */
export async function authenticate(ctx: RequestContext, serverSecret: Uint8Array, authn: Authenticators | null): Promise<void> {
  if (authn?.mtls) {
    let peer: Principal | null;
    try {
      peer = authn.mtls.authenticateRequest(ctx.req);
    } catch (err) {
      // Refusals only: an unknown root may be a CA rotation this PEP has not fetched yet.
      peer = await authn.mtls.retryAfterBundleRefresh(ctx.req, err);
    }
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

import { WardenError } from '../errors/index.js';
import { entityString } from '../observe/index.js';
import type { PepSnapshot } from './PepSnapshot.js';
import type { Principal } from './RequestContext.js';

/**
 * Why `snapshot` refuses an authenticated principal: a block of its Cedar entity (whatever the
 * credential: API key, OIDC JWT, X.509- or JWT-SVID), or, for an API key, the key revoked in
 * this snapshot (it authenticated against an older one). Null when it does not. Checked right
 * after authentication against the newest snapshot, and against every new snapshot for what is
 * in flight (RevocationEnforcer), so a block or revocation also ends answers already streaming.
 */
export function principalRefusal(snapshot: PepSnapshot, p: Principal, now = Date.now()): WardenError | null {
  if (p.method === 'api-key' && p.keyPrefix !== undefined) {
    const record = snapshot.apiKeys.get(p.keyPrefix);
    // A key gone from the snapshot (deleted, or another control plane's store) is refused too.
    if (!record || record.id !== p.id || record.revokedAt) return new WardenError('WARDEN_AUTHN_KEY_REVOKED', 'the API key has been revoked');
  }
  if (snapshot.blockedPrincipals.size === 0) return null;
  const until = snapshot.blockedPrincipals.get(entityString(p.entity));
  // An end that is not a number (a malformed snapshot) blocks: fail closed.
  if (until === undefined || (until !== null && until <= now)) return null;
  return new WardenError('WARDEN_AUTHZ_PRINCIPAL_BLOCKED', 'this principal is blocked by the operators of this gateway');
}

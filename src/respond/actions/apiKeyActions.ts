import { WardenError } from '../../errors/index.js';
import { cedarEntity } from '../../policy/index.js';
import { ApiKeyRepository, BlockedPrincipalRepository, type Database, type PrincipalBlock } from '../../store/index.js';
import type { StepParams } from '../Runbook.js';
import { stringParam, type Action } from '../Action.js';

export interface ApiKeyActionDeps {
  db: Database;
  serverSecret: Uint8Array;
  /** Tells the control plane to rebuild and push the PEP snapshot. */
  snapshotChanged: (changedBy?: object) => void;
  onRevoked?: (kind: 'api_key' | 'principal', count: number) => void;
}

/**
 * Restores keys this run revoked (compensation only: the revoked_at must still be ours, so a
 * key an operator revoked meanwhile stays revoked). ApiKeyRepository has no "unrevoke" on
 * purpose; this is the one place that may undo a revocation, and only its own.
 */
async function restoreKeys(db: Database, ids: string[], revokedAt: string): Promise<void> {
  if (ids.length === 0) return;
  await db.query('UPDATE api_keys SET revoked_at = NULL WHERE id = ANY($1::text[]) AND revoked_at = $2', [ids, new Date(revokedAt)]);
}

/** block-api-key: revokes one API key (by id, prefix or name); PEPs reject it once the snapshot is pushed. */
export function blockApiKeyAction(deps: ApiKeyActionDeps): Action {
  const repo = new ApiKeyRepository(deps.db, deps.serverSecret);
  return {
    name: 'block-api-key',
    description: 'Revoke an API key at every PEP (by key id, prefix or name).',
    async plan(params) {
      const key = stringParam(params, 'key', 'block-api-key', /^[A-Za-z0-9._:@-]{1,64}$/);
      const rec = await repo.find(key);
      if (!rec) throw new WardenError('WARDEN_RESPOND_PRECONDITION', `block-api-key: no API key ${JSON.stringify(key)}`);
      return { description: `revoke API key ${rec.id} (${rec.name}, principal ${rec.principal})`, alreadyDone: rec.revokedAt !== null };
    },
    async apply(params, ctx) {
      const key = stringParam(params, 'key', 'block-api-key');
      // One statement on the containment path: revoke keeps an earlier revocation time, so a
      // different time back means the key was already revoked.
      const now = new Date();
      let rec;
      try {
        rec = await repo.revoke(key, now);
      } catch (cause) {
        // Several active keys of that name: say so (the repository's message), not "no API key".
        const why = cause instanceof WardenError && cause.code === 'WARDEN_CONFLICT' ? cause.message : `no API key ${JSON.stringify(key)}`;
        throw new WardenError('WARDEN_RESPOND_PRECONDITION', `block-api-key: ${why}`, { cause });
      }
      if (rec.revokedAt!.getTime() !== now.getTime()) return { changed: false, summary: `API key ${rec.id} was already revoked`, details: { keyId: rec.id } };
      deps.snapshotChanged(ctx.changedBy);
      deps.onRevoked?.('api_key', 1);
      return { changed: true, summary: `revoked API key ${rec.id}`, details: { keyId: rec.id, revokedAt: now.toISOString() } };
    },
    async undo(_params, result, ctx) {
      await restoreKeys(deps.db, [String(result.details.keyId)], String(result.details.revokedAt));
      deps.snapshotChanged(ctx.changedBy);
    },
  };
}

/** The principal to block, canonical: the grammar of `keys create --principal` (cedarEntity). */
function principalParam(params: StepParams): string {
  const principal = cedarEntity(stringParam(params, 'principal', 'block-principal'));
  if (principal === null) throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', 'block-principal: parameter "principal" must be a Cedar entity like User::"alice" (as `keys create --principal` takes it)');
  return principal;
}

/** Optional `ttlMinutes` (a whole number, 1 to 1 year): when the block ends by itself. None: until unblocked. */
function ttlMinutesParam(params: StepParams): number | null {
  const v = params.ttlMinutes;
  if (v === undefined) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 366 * 24 * 60) throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', 'block-principal: parameter "ttlMinutes" must be a whole number of minutes from 1 to 527040');
  return n;
}

/**
 * block-principal: blocks a principal's Cedar entity at every PEP (403
 * WARDEN_AUTHZ_PRINCIPAL_BLOCKED whatever it authenticates with: API key, OIDC JWT, X.509- or
 * JWT-SVID; answers under way are cut off) and revokes its active API keys. A principal with no
 * keys (an OIDC user, a workload) is blocked all the same.
 */
export function blockPrincipalAction(deps: ApiKeyActionDeps): Action {
  const blocks = new BlockedPrincipalRepository(deps.db);
  /** Active keys acting as `principal`, however their principal was spelled at creation (`\u0061` is `a`). */
  const liveKeys = async (principal: string): Promise<string[]> =>
    (await deps.db.query<{ id: string; principal: string }>('SELECT id, principal FROM api_keys WHERE revoked_at IS NULL')).rows.filter((k) => cedarEntity(k.principal) === principal).map((k) => k.id);
  const blockedFor = async (principal: string, until: Date | null): Promise<boolean> => {
    const b = await blocks.find(principal);
    if (!b || (b.expiresAt && b.expiresAt.getTime() <= Date.now())) return false;
    return b.expiresAt === null || (until !== null && b.expiresAt >= until);
  };
  return {
    name: 'block-principal',
    description: 'Block a principal at every PEP whatever credential it presents (cutting off its open answers) and revoke its API keys.',
    async plan(params) {
      const principal = principalParam(params);
      const ttl = ttlMinutesParam(params);
      const live = (await liveKeys(principal)).length;
      const blocked = await blockedFor(principal, ttl === null ? null : new Date(Date.now() + ttl * 60_000));
      return { description: `block ${principal} at every PEP ${ttl === null ? 'until unblocked' : `for ${ttl} min`} and revoke its ${live} active API key(s)`, alreadyDone: blocked && live === 0 };
    },
    async apply(params, ctx) {
      const principal = principalParam(params);
      const ttl = ttlMinutesParam(params);
      const now = new Date();
      const before = await blocks.find(principal);
      const previous = before && (before.expiresAt === null || before.expiresAt > now) ? before : null;
      const { block, changed: blockChanged } = await blocks.block({ principal, expiresAt: ttl === null ? null : new Date(now.getTime() + ttl * 60_000), blockedBy: ctx.actor, incidentId: ctx.incidentId, reason: 'block-principal' }, now);
      const ids = await liveKeys(principal);
      const revoked = ids.length === 0 ? [] : (await deps.db.query<{ id: string }>('UPDATE api_keys SET revoked_at = $2 WHERE id = ANY($1::text[]) AND revoked_at IS NULL RETURNING id', [ids, now])).rows.map((x) => x.id);
      const until = block.expiresAt ? `until ${block.expiresAt.toISOString()}` : 'until unblocked';
      if (!blockChanged && revoked.length === 0) return { changed: false, summary: `${principal} was already blocked (${until}) and had no active API keys`, details: { principal } };
      deps.snapshotChanged(ctx.changedBy);
      if (revoked.length > 0) deps.onRevoked?.('principal', revoked.length);
      return {
        changed: true,
        summary: `blocked ${principal} at every PEP (${until}) and revoked ${revoked.length} API key(s)`,
        details: {
          principal,
          ...(blockChanged ? { blockedAt: now.toISOString() } : {}),
          ...(blockChanged && previous ? { previousBlock: { ...previous, blockedAt: previous.blockedAt.toISOString(), expiresAt: previous.expiresAt?.toISOString() ?? null } } : {}),
          expiresAt: block.expiresAt?.toISOString() ?? null, keyIds: revoked, revokedAt: now.toISOString() },
      };
    },
    async undo(_params, result, ctx) {
      const principal = String(result.details.principal);
      // Only the block this run made: one made or extended meanwhile stays, and one this run
      // lengthened goes back to what it was (an operator's block in force before the run).
      if (typeof result.details.blockedAt === 'string') {
        const ours = new Date(result.details.blockedAt);
        const prev = result.details.previousBlock as (Omit<PrincipalBlock, 'blockedAt' | 'expiresAt'> & { blockedAt: string; expiresAt: string | null }) | undefined;
        if (prev) await blocks.restore({ ...prev, blockedAt: new Date(prev.blockedAt), expiresAt: prev.expiresAt === null ? null : new Date(prev.expiresAt) }, ours);
        else await blocks.unblock(principal, ours);
      }
      await restoreKeys(deps.db, (result.details.keyIds as string[] | undefined) ?? [], String(result.details.revokedAt));
      deps.snapshotChanged(ctx.changedBy);
    },
  };
}

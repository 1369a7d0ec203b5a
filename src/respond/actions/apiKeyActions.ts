import { WardenError } from '../../errors/index.js';
import { ApiKeyRepository, type Database } from '../../store/index.js';
import { stringParam, type Action } from '../Action.js';

export interface ApiKeyActionDeps {
  db: Database;
  serverSecret: Uint8Array;
  /** Tells the control plane to rebuild and push the PEP snapshot. */
  snapshotChanged: (changedBy?: object) => void;
  onRevoked?: (kind: 'api_key' | 'principal', count: number) => void;
}

const PRINCIPAL = /^[A-Z][A-Za-z0-9_]*(::[A-Z][A-Za-z0-9_]*)*::"[^"\\\n]{1,256}"$/;

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
        throw new WardenError('WARDEN_RESPOND_PRECONDITION', `block-api-key: no API key ${JSON.stringify(key)}`, { cause });
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

/** block-principal: revokes every active API key a principal (e.g. User::"mallory") authenticates with. */
export function blockPrincipalAction(deps: ApiKeyActionDeps): Action {
  const active = async (principal: string) =>
    (await deps.db.query<{ id: string; revoked_at: Date | null }>('SELECT id, revoked_at FROM api_keys WHERE principal = $1', [principal])).rows;
  return {
    name: 'block-principal',
    description: 'Revoke every API key of a principal at every PEP.',
    async plan(params) {
      const principal = stringParam(params, 'principal', 'block-principal', PRINCIPAL);
      const keys = await active(principal);
      if (keys.length === 0) throw new WardenError('WARDEN_RESPOND_PRECONDITION', `block-principal: ${principal} has no API keys`);
      const live = keys.filter((k) => !k.revoked_at).length;
      return { description: `revoke ${live} active API key(s) of ${principal}`, alreadyDone: live === 0 };
    },
    async apply(params, ctx) {
      const principal = stringParam(params, 'principal', 'block-principal', PRINCIPAL);
      const now = new Date();
      const r = await deps.db.query<{ id: string }>('UPDATE api_keys SET revoked_at = $2 WHERE principal = $1 AND revoked_at IS NULL RETURNING id', [principal, now]);
      const ids = r.rows.map((x) => x.id);
      if (ids.length === 0) return { changed: false, summary: `${principal} had no active API keys`, details: { principal } };
      deps.snapshotChanged(ctx.changedBy);
      deps.onRevoked?.('principal', ids.length);
      return { changed: true, summary: `revoked ${ids.length} API key(s) of ${principal}`, details: { principal, keyIds: ids, revokedAt: now.toISOString() } };
    },
    async undo(_params, result, ctx) {
      await restoreKeys(deps.db, result.details.keyIds as string[], String(result.details.revokedAt));
      deps.snapshotChanged(ctx.changedBy);
    },
  };
}

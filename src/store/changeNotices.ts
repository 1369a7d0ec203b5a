import type { Database } from './Database.js';

/**
 * Cross-replica change notices (PostgreSQL LISTEN/NOTIFY). Several `warden server` replicas on
 * one database each keep the PEP snapshot and the SVID revocation list in memory; a notice tells
 * the others to reread what changed. A notice carries only the kind of change, never data: the
 * listener rereads the database, so a notice cannot leak a secret or go stale.
 */
export const CHANGES_CHANNEL = 'warden_changes';

/**
 * `snapshot`: API keys, policies, approved models (rebuild the PEP snapshot).
 * `revocations`: SVID revocations (reload the revocation list, push the new entries).
 * `pep-tokens`: a PEP token was revoked (end the snapshot streams it opened).
 */
const CHANGE_KINDS = ['snapshot', 'revocations', 'pep-tokens'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

function isChangeKind(value: string): value is ChangeKind {
  return (CHANGE_KINDS as readonly string[]).includes(value);
}

/**
 * A notice's payload: its kind, then `:` and the sending replica's random id when it gave one, so
 * that a replica skips its own snapshot notices (it rebuilt already; another rebuild would push
 * every PEP a second snapshot version per change). Null when the payload is not one of ours.
 */
export function parseChangeNotice(payload: string): { kind: ChangeKind; from: string | null } | null {
  const colon = payload.indexOf(':');
  const kind = colon === -1 ? payload : payload.slice(0, colon);
  return isChangeKind(kind) ? { kind, from: colon === -1 ? null : payload.slice(colon + 1) } : null;
}

/**
 * Tells the other replicas that `kind` changed. Call it after the change committed (or on the
 * transaction's own connection, where PostgreSQL delivers it at COMMIT): a listener that rereads
 * on the notice must find the change. Embedded storage is one process: nothing to tell.
 */
export async function announceChange(db: Database, kind: ChangeKind, from?: string): Promise<void> {
  if (db.kind !== 'postgres') return;
  await db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, from ? `${kind}:${from}` : kind]);
}

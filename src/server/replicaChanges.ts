import { randomUUID } from 'node:crypto';
import { toWardenError } from '../errors/index.js';
import { getAuthority } from '../identity/index.js';
import { announceChange, ChangeListener, type ChangeKind } from '../store/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import type { SnapshotPublisher } from './SnapshotPublisher.js';
import { coalesce } from './coalesce.js';
import { SNAPSHOT_TTL_MS } from './snapshotBuilder.js';

/** Local event: a PEP token may have been revoked through another replica (routes/pep.ts ends its streams). */
export const PEP_TOKENS_CHANGED = 'pep-tokens:changed';

export interface ReplicaChanges {
  close(): Promise<void>;
}

export interface ReplicaChangesOptions {
  /** Reconnect delays of the LISTEN connection (tests shorten them). */
  backoff?: { minMs: number; maxMs: number };
}

/**
 * Keeps control-plane replicas that share one PostgreSQL database in step within seconds
 * ("revocable fleet-wide in seconds"), rather than at each replica's periodic refresh: every
 * local change is announced with NOTIFY (store/changeNotices.ts), and one dedicated LISTEN
 * connection turns the other replicas' notices into a snapshot rebuild, a revocation reload
 * (whose new entries go down the revocation streams like local ones) or a PEP-token check.
 * Bursts are coalesced (SnapshotPublisher.rebuild, coalesce): many notices, one reread at a time
 * and one more after. The periodic refreshes stay as the safety net for a lost notice.
 * Embedded storage is one process: nothing to do.
 */
export function followReplicaChanges(ctx: ControlPlaneContext, publisher: SnapshotPublisher, options: ReplicaChangesOptions = {}): ReplicaChanges {
  const url = ctx.config.database.url;
  if (ctx.db.kind !== 'postgres' || !url) return { close: async () => undefined };
  // Names this replica's own snapshot notices, which it skips.
  const self = randomUUID();
  const warn = (what: string) => (err: unknown) => ctx.logger.warn({ code: toWardenError(err).code, err: (err as Error)?.message }, what);

  // 'snapshot:changed' is emitted once the change committed, so a replica that rereads on the
  // notice finds it. SVID revocations announce themselves in their own INSERT (RevocationList).
  const announceSnapshot = (): void => {
    announceChange(ctx.db, 'snapshot', self).catch(warn('could not notify the other control-plane replicas of a change; they see it at their periodic refresh'));
  };
  ctx.events.on('snapshot:changed', announceSnapshot);

  const reloadRevocations = coalesce(async () => {
    const added = await (await getAuthority(ctx)).revocations.refresh();
    if (added > 0) ctx.logger.info({ added }, 'applied SVID revocations made through another control-plane replica');
  });
  const handlers: Record<ChangeKind, () => void> = {
    // SnapshotPublisher logs and retries a failed rebuild itself.
    snapshot: () => void publisher.rebuild().catch(() => undefined),
    revocations: () => void reloadRevocations().catch(warn('could not reload SVID revocations after a change notice; retried at the next notice or refresh')),
    'pep-tokens': () => void ctx.events.emit(PEP_TOKENS_CHANGED),
  };
  const resync = (): void => {
    for (const handle of Object.values(handlers)) handle();
  };

  const listener = new ChangeListener({ url, backoff: options.backoff });
  listener.on('change', (kind: ChangeKind, from: string | null) => {
    if (from !== self) handlers[kind]();
  });
  // On every (re)connect: notices sent while nobody listened are lost.
  listener.on('resync', resync);
  listener.on('lost', warn('lost the PostgreSQL change-notice connection; reconnecting (changes made through other control-plane replicas wait for the periodic refresh meanwhile)'));
  listener.start();
  // The revocation list and PEP-token checks had no periodic reread (the snapshot has its own
  // timer): they get the snapshot's interval, for a notice lost anyway or a PEP stream opened
  // with a token just as it was being revoked.
  const revocationRefresh = setInterval(() => {
    handlers.revocations();
    handlers['pep-tokens']();
  }, Math.floor(SNAPSHOT_TTL_MS / 3));
  revocationRefresh.unref();

  return {
    async close() {
      ctx.events.off('snapshot:changed', announceSnapshot);
      clearInterval(revocationRefresh);
      await listener.close();
    },
  };
}

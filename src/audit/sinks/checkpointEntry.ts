import type { AuditEntry } from '../AuditQuery.js';
import type { SignedCheckpoint } from '../checkpoint/index.js';

/** `index` of a forwarded checkpoint: it is not a log entry (no leaf, no proof). */
export const CHECKPOINT_EVENT_INDEX = -1;

/**
 * A signed checkpoint as the sinks carry it, so every destination keeps an off-box copy of the
 * tree heads: `warden audit verify --checkpoint <that copy>` then detects truncation or a
 * rollback of the log to an older signed head, which the log alone cannot show.
 */
export function checkpointEntry(cp: SignedCheckpoint, at: Date): AuditEntry {
  return {
    index: CHECKPOINT_EVENT_INDEX,
    leafHash: '',
    record: {
      ts: at.toISOString(),
      kind: 'event',
      action: 'audit.checkpoint',
      resource: `AuditLog::"${cp.origin}"`,
      details: { size: cp.size, rootHash: cp.rootHash.toString('hex'), note: cp.note },
    },
  };
}

import type { AuditLog, AuditRecord } from '../audit/index.js';

/**
 * What the gateway needs of an audit log: the local Merkle log (in `warden up`) or a remote writer.
 * `failingClosed`: the writer can keep no more records (a remote gateway whose queue and spool are
 * full), so the gateway refuses requests instead of serving them unaudited.
 * `appendDetached`: append without a promise, for a record nobody awaits (see MerkleAuditLog).
 */
export type AuditWriter = Pick<AuditLog, 'append' | 'queueDepth' | 'flush' | 'close'> & {
  readonly failingClosed?: boolean;
  /** The queue depth from which appends wait for space (the local log's queueLimit): the gateway waits there at the latest. */
  readonly appendWaitsAt?: number;
  appendDetached?(record: AuditRecord): void;
};

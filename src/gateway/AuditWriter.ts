import type { AuditLog } from '../audit/index.js';

/** What the gateway needs of an audit log: the local Merkle log (in `warden up`) or a remote writer. */
export type AuditWriter = Pick<AuditLog, 'append' | 'queueDepth' | 'flush' | 'close'>;

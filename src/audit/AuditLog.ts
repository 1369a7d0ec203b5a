import type { AuditRecord } from './AuditRecord.js';

/**
 * Where PEPs and the control plane write records. `append` resolves once the record is
 * durable; callers on the request path do not await it but must not drop denies.
 */
export interface AuditLog {
  append(record: AuditRecord): Promise<void>;
  /** Records waiting to be written (for metrics and backpressure). */
  readonly queueDepth: number;
  /** Writes everything queued and waits for durability. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

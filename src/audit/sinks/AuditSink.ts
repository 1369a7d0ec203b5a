import type { AuditEntry } from '../AuditQuery.js';

/**
 * A SIEM destination (SPIRE-style plugin seam): file/stdout JSON lines, syslog, OTLP.
 * `send` resolves once the destination accepted the entries (written / sent / 2xx).
 */
export interface AuditSink {
  readonly name: string;
  send(entries: readonly AuditEntry[]): Promise<void>;
  close(): Promise<void>;
}

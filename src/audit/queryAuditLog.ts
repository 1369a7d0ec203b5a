import type { AuditRecord } from './AuditRecord.js';
import { matchesQuery, MAX_QUERY_LIMIT, type AuditEntry, type AuditQuery } from './AuditQuery.js';
import { DbAuditReader, type AuditReader } from './storage/index.js';

export interface QueryAuditLogOptions {
  /** Called with each entry found whose database columns disagree with it (tampering: verify names all). */
  onMismatch?: (index: number) => void;
  /** The log's size where the caller knows it (the live writer): rows at or above it are not shown. */
  size?: number;
}

/** Most recent `limit` entries matching `q`, newest first. Damaged entries are skipped (verify reports them). */
export async function queryAuditLog(reader: AuditReader, q: AuditQuery, options: QueryAuditLogOptions = {}): Promise<AuditEntry[]> {
  const limit = Math.min(q.limit ?? 100, MAX_QUERY_LIMIT);
  if (reader instanceof DbAuditReader) return reader.query(q, limit, options.onMismatch, options.size);
  const ring: AuditEntry[] = [];
  for await (const entry of matchingAuditEntries(reader, q)) {
    ring.push(entry);
    if (ring.length > limit) ring.shift();
  }
  return ring.reverse();
}

/**
 * The entries matching `q` in log order, from entry `from` on. Damaged entries (malformed, no
 * index or hash, not JSON) are skipped: `audit verify` is what reports them.
 */
export async function* matchingAuditEntries(reader: AuditReader, q: AuditQuery, from?: number): AsyncGenerator<AuditEntry> {
  for await (const raw of reader.entries(from)) {
    if (raw.malformed || raw.index === null || raw.storedHash === null) continue;
    let record: AuditRecord;
    try {
      record = JSON.parse(raw.entry.toString('utf8')) as AuditRecord;
    } catch {
      continue;
    }
    if (matchesQuery(record, q)) yield { index: raw.index, leafHash: raw.storedHash.toString('hex'), record };
  }
}

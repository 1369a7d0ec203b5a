import { WardenError } from '../errors/index.js';
import type { AuditRecord } from './AuditRecord.js';
import { leafHash, leafHashOfPrefixed } from './merkle/index.js';
import type { AuditReader } from './storage/index.js';

/**
 * The stored record at `index`, shown beside an inclusion proof only when it is the leaf proven:
 * reading by index trusts storage's layout (segment names, row keys), which an edit can shift.
 */
export async function provenRecord(reader: AuditReader, index: number, proven: Buffer): Promise<AuditRecord> {
  for await (const raw of reader.entries(index)) {
    if (raw.malformed || raw.index !== index || raw.position !== index) break;
    const h = raw.leafInput ? leafHashOfPrefixed(raw.leafInput) : leafHash(raw.entry);
    if (!h.equals(proven)) break;
    try {
      return JSON.parse(raw.entry.toString('utf8')) as AuditRecord;
    } catch {
      break;
    }
  }
  throw new WardenError(
    'WARDEN_AUDIT_TAMPERED',
    `the record read back at index ${index} is not the proven entry (leaf hash or index differ: storage was edited, e.g. a segment renamed); run \`warden audit verify\``,
  );
}

import { HASH_SIZE } from '../merkle/index.js';
import type { RawEntry } from './AuditStore.js';

const TAB = 0x09;

/**
 * Segment line format: `<index>\t<leaf hash hex>\t<canonical JSON>` (no newline). The JSON is
 * kept byte for byte as hashed, so verify needs no re-serialisation to recompute the leaf.
 */
export function formatEntryLine(index: number, leafHash: Buffer, json: string): string {
  return `${index}\t${leafHash.toString('hex')}\t${json}\n`;
}

/** Parses one line (a view; the entry stays a view into it). Verify-hot: no regex, no string copies of the JSON. */
export function parseEntryLine(line: Buffer, position: number): RawEntry {
  const t1 = line.indexOf(TAB);
  const t2 = t1 < 0 ? -1 : t1 + 1 + HASH_SIZE * 2;
  if (t1 <= 0 || t1 > 16 || t2 >= line.length || line[t2] !== TAB) {
    return { position, index: null, storedHash: null, entry: line, malformed: 'not <index> TAB <hash> TAB <json>' };
  }
  let index = 0;
  for (let i = 0; i < t1; i++) {
    const d = line[i]! - 0x30;
    if (d < 0 || d > 9 || (i === 0 && d === 0 && t1 > 1)) return { position, index: null, storedHash: null, entry: line, malformed: 'bad index' };
    index = index * 10 + d;
  }
  const storedHash = Buffer.from(line.toString('latin1', t1 + 1, t2), 'hex');
  const entry = line.subarray(t2 + 1);
  if (storedHash.length !== HASH_SIZE || entry.length === 0 || entry[0] !== 0x7b) {
    return { position, index: null, storedHash: null, entry, malformed: 'bad hash or JSON' };
  }
  // The separator before the JSON becomes the RFC 9162 leaf prefix 0x00, so the leaf hash
  // is one contiguous one-shot hash (verify-hot). The line buffer belongs to the reader.
  line[t2] = 0x00;
  return { position, index, storedHash, entry, leafInput: line.subarray(t2) };
}

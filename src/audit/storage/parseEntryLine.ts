import { HASH_SIZE } from '../merkle/index.js';
import type { RawEntry } from './AuditStore.js';

const TAB = 0x09;
const HEX = /^[0-9a-f]{64}$/;

/**
 * Segment line format: `<index>\t<leaf hash hex>\t<canonical JSON>` (no newline). The JSON is
 * kept byte for byte as hashed, so verify needs no re-serialisation to recompute the leaf.
 */
export function formatEntryLine(index: number, leafHash: Buffer, entry: Buffer): Buffer {
  const head = Buffer.from(`${index}\t${leafHash.toString('hex')}\t`, 'latin1');
  return Buffer.concat([head, entry, NEWLINE]);
}

const NEWLINE = Buffer.from('\n');

export function parseEntryLine(line: Buffer, position: number): RawEntry {
  const t1 = line.indexOf(TAB);
  const t2 = t1 < 0 ? -1 : line.indexOf(TAB, t1 + 1);
  if (t1 <= 0 || t2 !== t1 + 1 + HASH_SIZE * 2) {
    return { position, index: null, storedHash: null, entry: line, malformed: 'not <index> TAB <hash> TAB <json>' };
  }
  const indexText = line.toString('latin1', 0, t1);
  const hashText = line.toString('latin1', t1 + 1, t2);
  const entry = line.subarray(t2 + 1);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(indexText) || !HEX.test(hashText) || entry.length === 0 || entry[0] !== 0x7b) {
    return { position, index: null, storedHash: null, entry, malformed: 'bad index, hash or JSON' };
  }
  return { position, index: Number(indexText), storedHash: Buffer.from(hashText, 'hex'), entry };
}

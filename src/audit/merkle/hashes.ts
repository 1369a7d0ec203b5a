import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';

/** SHA-256 output size; every node and leaf hash in the log has this length. */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 ‖ entry); a string entry is hashed as its UTF-8 bytes. */
export function leafHash(entry: Uint8Array | string): Buffer {
  // '\u0000' encodes as the single 0x00 prefix byte in UTF-8, so the one-shot hash sees 0x00 ‖ entry.
  if (typeof entry === 'string' && oneShotString) return oneShotString('sha256', '\u0000' + entry, 'buffer');
  return typeof entry === 'string'
    ? createHash('sha256').update(LEAF_PREFIX).update(entry, 'utf8').digest()
    : createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

/** Leaf hash of a buffer that already starts with the 0x00 prefix. */
export function leafHashOfPrefixed(leafInput: Uint8Array): Buffer {
  return oneShot ? oneShot('sha256', leafInput, 'buffer') : createHash('sha256').update(leafInput).digest();
}

// One-shot crypto.hash (Node ≥ 20.12) over a reused 65-byte buffer halves the cost of
// interior nodes, which are about half of all hashing; older Nodes use createHash.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;
const nodeScratch = Buffer.alloc(65);
const oneShotString = oneShot as ((alg: string, data: string, enc: 'buffer') => Buffer) | undefined;

/** RFC 9162 §2.1.1: interior node hash = SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (oneShot && left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeScratch[0] = 0x01;
    nodeScratch.set(left, 1);
    nodeScratch.set(right, 33);
    return oneShot('sha256', nodeScratch, 'buffer');
  }
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** Root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** Largest power of two strictly smaller than n (n ≥ 2), the split point of RFC 9162 MTH. */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Exact for every safe integer (bit operators would wrap above 2^31). */
export function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

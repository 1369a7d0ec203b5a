import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';

/** SHA-256 output size; every node and leaf hash in the log has this length. */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

// One-shot crypto.hash (Node ≥ 20.12); older Nodes use createHash. Its digest is asked for as a
// 'binary' (latin1: one char per byte) string and copied into a pooled Buffer or a tree's array:
// a 'buffer' digest gets its own backing store, which costs more than hashing a small record.
type OneShot = (alg: string, data: Uint8Array | string, enc: 'binary') => string;
const oneShot = (nodeCrypto as { hash?: OneShot }).hash;

function sha256(data: Uint8Array | string): Buffer {
  return Buffer.from(oneShot!('sha256', data, 'binary'), 'latin1');
}

/** RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 ‖ entry); a string entry is hashed as its UTF-8 bytes. */
export function leafHash(entry: Uint8Array | string): Buffer {
  // '\u0000' encodes as the single 0x00 prefix byte in UTF-8, so the one-shot hash sees 0x00 ‖ entry.
  if (typeof entry === 'string' && oneShot) return sha256('\u0000' + entry);
  return typeof entry === 'string'
    ? createHash('sha256').update(LEAF_PREFIX).update(entry, 'utf8').digest()
    : createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

/** Leaf hash of a buffer that already starts with the 0x00 prefix. */
export function leafHashOfPrefixed(leafInput: Uint8Array): Buffer {
  return oneShot ? sha256(leafInput) : createHash('sha256').update(leafInput).digest();
}

// Interior nodes (about half of all hashing) are hashed from a reused 65-byte buffer.
const nodeScratch = Buffer.alloc(65);

/** RFC 9162 §2.1.1: interior node hash = SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (oneShot && left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeScratch[0] = 0x01;
    nodeScratch.set(left, 1);
    nodeScratch.set(right, 33);
    return sha256(nodeScratch);
  }
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/**
 * nodeHash of two adjacent hashes (`pair` = left ‖ right, 64 bytes) written to `out` at `offset`,
 * without a Buffer per node. `out` may overlap `pair`: the pair is read before anything is written.
 */
export function nodeHashOfPairInto(pair: Uint8Array, out: Buffer, offset: number): void {
  if (!oneShot) {
    createHash('sha256').update(NODE_PREFIX).update(pair).digest().copy(out, offset);
    return;
  }
  nodeScratch[0] = 0x01;
  nodeScratch.set(pair, 1);
  out.write(oneShot('sha256', nodeScratch, 'binary'), offset, HASH_SIZE, 'latin1');
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

import { WardenError } from '../../errors/index.js';
import { EMPTY_ROOT, HASH_SIZE, isPowerOfTwo, largestPowerOfTwoBelow, nodeHash } from './hashes.js';

/** Growable array of 32-byte hashes in one buffer: millions of leaves without per-hash objects. */
class HashArray {
  private buf = Buffer.allocUnsafe(HASH_SIZE * 1024);
  length = 0;

  push(hash: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.buf.length) {
      const next = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(next, 0, 0, this.length * HASH_SIZE);
      this.buf = next;
    }
    this.buf.set(hash, this.length * HASH_SIZE);
    this.length++;
  }

  /** A view (no copy); callers that keep it must copy. */
  at(i: number): Buffer {
    return this.buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

/**
 * An append-only RFC 9162 Merkle tree held in memory. Level k stores the hash of every
 * complete, aligned subtree of 2^k leaves, so appends are amortised O(1) and roots,
 * inclusion proofs and consistency proofs for any earlier size are O(log n).
 * (Hand-written: the npm Merkle libraries use other hashing rules or rebuild whole trees.)
 */
export class MerkleTree {
  private readonly levels: HashArray[] = [new HashArray()];

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends a leaf hash (already SHA-256(0x00 ‖ entry)). */
  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new WardenError('WARDEN_INPUT_INVALID', 'leaf hash must be 32 bytes');
    this.levels[0]!.push(leafHash);
    let k = 0;
    while (this.levels[k]!.length % 2 === 0) {
      const level = this.levels[k]!;
      const n = level.length;
      const parent = nodeHash(level.at(n - 2), level.at(n - 1));
      if (!this.levels[k + 1]) this.levels.push(new HashArray());
      this.levels[k + 1]!.push(parent);
      k++;
    }
  }

  leafHash(index: number): Buffer {
    this.checkIndex(index, this.size);
    return Buffer.from(this.levels[0]!.at(index));
  }

  /** MTH of the first `size` leaves (default: all). */
  root(size = this.size): Buffer {
    this.checkSize(size);
    if (size === 0) return Buffer.from(EMPTY_ROOT);
    return Buffer.from(this.subtree(0, size));
  }

  /** RFC 9162 §2.1.3.1 PATH(index, D[0:size]). */
  inclusionProof(index: number, size = this.size): Buffer[] {
    this.checkSize(size);
    this.checkIndex(index, size);
    const out: Buffer[] = [];
    this.path(index, 0, size, out);
    return out;
  }

  /** RFC 9162 §2.1.4.1 PROOF(first, D[0:second]); empty when first is 0 or equals second. */
  consistencyProof(first: number, second = this.size): Buffer[] {
    this.checkSize(second);
    if (!Number.isSafeInteger(first) || first < 0 || first > second) {
      throw new WardenError('WARDEN_AUDIT_INDEX_OUT_OF_RANGE', `first size ${first} must be between 0 and ${second}`);
    }
    const out: Buffer[] = [];
    if (first === 0 || first === second) return out;
    this.subproof(first, 0, second, true, out);
    return out;
  }

  /** MTH(D[start : start+n]); complete aligned subtrees come straight from the level arrays. */
  private subtree(start: number, n: number): Buffer {
    if (isPowerOfTwo(n) && start % n === 0) {
      const k = Math.round(Math.log2(n));
      return Buffer.from(this.levels[k]!.at(start / n));
    }
    const k = largestPowerOfTwoBelow(n);
    return nodeHash(this.subtree(start, k), this.subtree(start + k, n - k));
  }

  private path(m: number, start: number, n: number, out: Buffer[]): void {
    if (n === 1) return;
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      this.path(m, start, k, out);
      out.push(this.subtree(start + k, n - k));
    } else {
      this.path(m - k, start + k, n - k, out);
      out.push(this.subtree(start, k));
    }
  }

  private subproof(m: number, start: number, n: number, complete: boolean, out: Buffer[]): void {
    if (m === n) {
      if (!complete) out.push(this.subtree(start, n));
      return;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      this.subproof(m, start, k, complete, out);
      out.push(this.subtree(start + k, n - k));
    } else {
      this.subproof(m - k, start + k, n - k, false, out);
      out.push(this.subtree(start, k));
    }
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) {
      throw new WardenError('WARDEN_AUDIT_INDEX_OUT_OF_RANGE', `tree size ${size} is beyond the log size ${this.size}`);
    }
  }

  private checkIndex(index: number, size: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new WardenError('WARDEN_AUDIT_INDEX_OUT_OF_RANGE', `index ${index} is not below tree size ${size}`);
    }
  }
}

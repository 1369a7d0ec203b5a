import { WardenError } from '../../errors/index.js';
import { EMPTY_ROOT, HASH_SIZE, isPowerOfTwo, largestPowerOfTwoBelow, nodeHash, nodeHashOfPairInto } from './hashes.js';

/** Growable array of 32-byte hashes in one buffer: millions of leaves without per-hash objects. */
class HashArray {
  private buf = Buffer.allocUnsafe(HASH_SIZE * 64);
  length = 0;

  push(hash: Uint8Array): void {
    this.reserveOne();
    this.buf.set(hash, this.length * HASH_SIZE);
    this.length++;
  }

  /** Appends the parent of hashes i and i+1 of `from` (hashed straight into this array). */
  pushParentOf(from: HashArray, i: number): void {
    this.reserveOne();
    nodeHashOfPairInto(from.buf.subarray(i * HASH_SIZE, (i + 2) * HASH_SIZE), this.buf, this.length * HASH_SIZE);
    this.length++;
  }

  private reserveOne(): void {
    if ((this.length + 1) * HASH_SIZE > this.buf.length) {
      const next = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(next, 0, 0, this.length * HASH_SIZE);
      this.buf = next;
    }
  }

  /**
   * MTH of the hashes held (their number a power of two), reduced pairwise in place: the hashes
   * are overwritten. Returns a view of slot 0.
   */
  reduceInPlace(): Buffer {
    for (let n = this.length; n > 1; n /= 2) {
      for (let i = 0; i < n; i += 2) nodeHashOfPairInto(this.buf.subarray(i * HASH_SIZE, (i + 2) * HASH_SIZE), this.buf, (i / 2) * HASH_SIZE);
    }
    return this.at(0);
  }

  /** A view (no copy); callers that keep it must copy. */
  at(i: number): Buffer {
    return this.buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }

  toArray(): Buffer[] {
    return Array.from({ length: this.length }, (_, i) => Buffer.from(this.at(i)));
  }
}

export interface MerkleTreeOptions {
  /**
   * Keep in memory only subtrees of at least 2^minLevel leaves plus the newest, incomplete
   * group: memory drops from 64 to about 64/2^minLevel bytes per entry. Proofs and roots
   * that need leaves of an older group get them through `withGroups` (read from storage
   * and checked against the in-memory group hash). 0 keeps everything.
   */
  minLevel?: number;
}

/** MTH of a run of leaves whose length is a power of two (pairwise reduction). */
function reduce(leaves: readonly Uint8Array[]): Buffer {
  const run = new HashArray();
  for (const l of leaves) run.push(l);
  return Buffer.from(run.reduceInPlace());
}

/**
 * An append-only RFC 9162 Merkle tree held in memory. Level k stores the hash of every
 * complete, aligned subtree of 2^k leaves (k ≥ minLevel), so appends are amortised O(1)
 * and roots, inclusion proofs and consistency proofs for any earlier size are O(log n).
 * (Hand-written: the npm Merkle libraries use other hashing rules or rebuild whole trees.)
 */
export class MerkleTree {
  readonly minLevel: number;
  /** Leaves per group (2^minLevel). */
  readonly groupSize: number;
  private readonly levels: HashArray[] = [];
  /** Leaves of the newest, incomplete group. */
  private readonly pending = new HashArray();
  private count = 0;
  private supplied: ReadonlyMap<number, readonly Buffer[]> | null = null;
  /** Groups whose leaves are kept when they complete (e.g. the group of the latest checkpoint). */
  private readonly retained = new Map<number, Buffer[] | null>();

  constructor(options: MerkleTreeOptions = {}) {
    const k = options.minLevel ?? 0;
    if (!Number.isInteger(k) || k < 0 || k > 16) throw new WardenError('WARDEN_INPUT_INVALID', 'minLevel must be an integer from 0 to 16');
    this.minLevel = k;
    this.groupSize = 2 ** k;
    for (let i = 0; i <= k; i++) this.levels.push(new HashArray());
  }

  get size(): number {
    return this.count;
  }

  /** Appends a leaf hash (already SHA-256(0x00 ‖ entry)). */
  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new WardenError('WARDEN_INPUT_INVALID', 'leaf hash must be 32 bytes');
    this.count++;
    if (this.minLevel === 0) this.push(0, leafHash);
    else {
      this.pending.push(leafHash);
      if (this.pending.length === this.groupSize) {
        const g = (this.count - this.groupSize) / this.groupSize;
        if (this.retained.has(g)) this.retained.set(g, this.pending.toArray());
        // Reduced in place (no Buffer per leaf or node); the root is copied out by push().
        const root = this.pending.reduceInPlace();
        this.push(this.minLevel, root);
        this.pending.length = 0;
      }
    }
  }

  private push(k: number, hash: Uint8Array): void {
    this.levels[k]!.push(hash);
    while (this.levels[k]!.length % 2 === 0) {
      const level = this.levels[k]!;
      if (!this.levels[k + 1]) this.levels.push(new HashArray());
      this.levels[k + 1]!.pushParentOf(level, level.length - 2);
      k++;
    }
  }

  /** Index of the first leaf held in `pending`. */
  private get pendingStart(): number {
    return this.count - this.pending.length;
  }

  /**
   * Keeps the leaves of the group holding `index` once it completes, so later proofs about
   * it need no storage read. Only possible while that group is still the newest one.
   */
  retainGroupOf(index: number): void {
    if (this.minLevel === 0 || index < this.pendingStart || index >= this.count) return;
    this.retained.set(Math.floor(index / this.groupSize), null);
  }

  /** Forgets retained groups other than the one holding `keepIndex`. */
  releaseGroupsExcept(keepIndex: number): void {
    const keep = Math.floor(keepIndex / this.groupSize);
    for (const g of [...this.retained.keys()]) if (g !== keep) this.retained.delete(g);
  }

  /** Groups (by number) whose stored leaves a root at `size` needs (none when minLevel is 0). */
  groupsForRoot(size: number): number[] {
    return this.olderGroups([size % this.groupSize !== 0 ? size - 1 : -1]);
  }

  groupsForInclusion(index: number, size: number): number[] {
    return this.olderGroups([index, size % this.groupSize !== 0 ? size - 1 : -1]);
  }

  groupsForConsistency(first: number, second: number): number[] {
    return this.olderGroups([first > 0 && first % this.groupSize !== 0 ? first - 1 : -1, second % this.groupSize !== 0 ? second - 1 : -1]);
  }

  private olderGroups(indexes: number[]): number[] {
    if (this.minLevel === 0) return [];
    const out = new Set<number>();
    for (const i of indexes) {
      if (i < 0 || i >= this.pendingStart) continue;
      const g = Math.floor(i / this.groupSize);
      if (!this.retained.get(g)) out.add(g);
    }
    return [...out];
  }

  /**
   * Runs `fn` with the leaf hashes of older groups available. Each group must hash to the
   * group hash kept in memory; a mismatch means storage changed after it was appended.
   */
  withGroups<T>(groups: ReadonlyMap<number, readonly Buffer[]>, fn: () => T): T {
    for (const [g, leaves] of groups) {
      const stored = this.levels[this.minLevel]!;
      if (g < 0 || g >= stored.length) throw new WardenError('WARDEN_INPUT_INVALID', `group ${g} is not a complete group`);
      if (leaves.length !== this.groupSize || !reduce(leaves).equals(stored.at(g))) {
        const a = g * this.groupSize;
        throw new WardenError('WARDEN_AUDIT_TAMPERED', `stored entries ${a}..${a + this.groupSize - 1} no longer match the log; run \`warden audit verify\``);
      }
    }
    const previous = this.supplied;
    this.supplied = groups;
    try {
      return fn();
    } finally {
      this.supplied = previous;
    }
  }

  leafHash(index: number): Buffer {
    this.checkIndex(index, this.size);
    return Buffer.from(this.leafAt(index));
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

  private leafAt(index: number): Buffer {
    if (this.minLevel === 0) return this.levels[0]!.at(index);
    if (index >= this.pendingStart) return this.pending.at(index - this.pendingStart);
    const g = Math.floor(index / this.groupSize);
    const leaves = this.supplied?.get(g) ?? this.retained.get(g);
    if (!leaves) throw new WardenError('WARDEN_INTERNAL', `leaves of group ${g} are not loaded`);
    return leaves[index - g * this.groupSize]!;
  }

  /** MTH(D[start : start+n]); complete aligned subtrees come straight from the level arrays. */
  private subtree(start: number, n: number): Buffer {
    if (isPowerOfTwo(n) && start % n === 0) {
      const k = Math.round(Math.log2(n));
      if (k >= this.minLevel) return Buffer.from(this.levels[k]!.at(start / n));
      const leaves: Buffer[] = [];
      for (let i = start; i < start + n; i++) leaves.push(this.leafAt(i));
      return reduce(leaves);
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

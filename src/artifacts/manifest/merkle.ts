import { createHash, hash as oneShotHash } from 'node:crypto';

/**
 * RFC 6962 (Certificate Transparency) Merkle tree hashing: leaves are H(0x00 || data), interior
 * nodes H(0x01 || left || right), and a tree of n leaves splits at the largest power of two < n.
 * The domain separation makes a leaf impossible to pass off as an interior node.
 */
const LEAF_PREFIX = Buffer.from([0]);

let leafScratch = Buffer.allocUnsafe(4096);
const nodeScratch = Buffer.allocUnsafe(65);
nodeScratch[0] = 1;

/*
 * One-shot `crypto.hash` over a reused prefixed scratch buffer: per-record Hash objects made
 * dataset hashing several times slower (bench/artifacts.ts), and a row is usually small.
 */
export function merkleLeafHash(data: Uint8Array): Buffer {
  if (data.length + 1 > 1024 * 1024) return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
  if (data.length + 1 > leafScratch.length) leafScratch = Buffer.allocUnsafe(Math.max(data.length + 1, leafScratch.length * 2));
  leafScratch[0] = 0;
  leafScratch.set(data, 1);
  return oneShotHash('sha256', leafScratch.subarray(0, data.length + 1), 'buffer') as Buffer;
}

export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 33);
  return oneShotHash('sha256', nodeScratch, 'buffer') as Buffer;
}

/** Root of the tree whose level-k nodes are given (all full 2^k-leaf blocks except possibly the last). */
export function merkleRootOfNodes(nodes: readonly Buffer[]): Buffer {
  if (nodes.length === 0) return createHash('sha256').digest();
  return rootOfRange(nodes, 0, nodes.length);
}

function rootOfRange(nodes: readonly Buffer[], start: number, end: number): Buffer {
  const n = end - start;
  if (n === 1) return nodes[start]!;
  let split = 1;
  while (split * 2 < n) split *= 2;
  return merkleNodeHash(rootOfRange(nodes, start, start + split), rootOfRange(nodes, start + split, end));
}

export interface MerkleSummary {
  /** RFC 6962 root over all leaves. */
  root: Buffer;
  leafCount: number;
  /** Height of the stored nodes: node i covers leaves [i·2^level, (i+1)·2^level). */
  level: number;
  nodes: Buffer[];
}

/**
 * Streams leaf hashes into a Merkle tree keeping only one level of nodes (at most `maxNodes`),
 * so memory stays bounded for datasets of any size. With a fixed `level` it recomputes exactly
 * the node level a stored manifest used, which is what locating a changed record needs.
 */
export class MerkleAccumulator {
  private level: number;
  private readonly maxNodes: number | undefined;
  private nodes: Buffer[] = [];
  /** Complete subtrees below `level`, heights strictly decreasing (a binary counter of leaves). */
  private stack: { hash: Buffer; height: number }[] = [];
  private leaves = 0;

  constructor(options: { level?: number; maxNodes?: number } = {}) {
    this.level = options.level ?? 0;
    this.maxNodes = options.level === undefined ? options.maxNodes : undefined;
  }

  addLeafHash(leafHash: Buffer): void {
    this.leaves++;
    let hash = leafHash;
    let height = 0;
    while (height < this.level && this.stack.length > 0 && this.stack[this.stack.length - 1]!.height === height) {
      hash = merkleNodeHash(this.stack.pop()!.hash, hash);
      height++;
    }
    if (height === this.level) {
      this.nodes.push(hash);
      if (this.maxNodes !== undefined && this.nodes.length > this.maxNodes) this.raiseLevel();
    } else {
      this.stack.push({ hash, height });
    }
  }

  addLeaf(data: Uint8Array): void {
    this.addLeafHash(merkleLeafHash(data));
  }

  private raiseLevel(): void {
    while (this.maxNodes !== undefined && this.nodes.length > this.maxNodes) {
      this.level++;
      // An odd last node is the left half of a block still being filled: it goes back under the counter.
      if (this.nodes.length % 2 === 1) this.stack.unshift({ hash: this.nodes.pop()!, height: this.level - 1 });
      const merged: Buffer[] = [];
      for (let i = 0; i < this.nodes.length; i += 2) merged.push(merkleNodeHash(this.nodes[i]!, this.nodes[i + 1]!));
      this.nodes = merged;
    }
  }

  finish(): MerkleSummary {
    const nodes = [...this.nodes];
    if (this.stack.length > 0) {
      // The trailing partial block: its RFC 6962 hash folds the counter from the right.
      let acc = this.stack[this.stack.length - 1]!.hash;
      for (let i = this.stack.length - 2; i >= 0; i--) acc = merkleNodeHash(this.stack[i]!.hash, acc);
      nodes.push(acc);
    }
    return { root: merkleRootOfNodes(nodes), leafCount: this.leaves, level: this.level, nodes };
  }
}

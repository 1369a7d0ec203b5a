import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { ShardHasher } from './ShardHasher.js';
import { createHash, type Hash } from 'node:crypto';
import { WardenError } from '../../errors/index.js';
import { MerkleAccumulator, merkleLeafHash, type MerkleSummary } from './merkle.js';

export type MerkleUnit = 'record' | 'chunk';

export interface DatasetMerkleOptions {
  unit: MerkleUnit;
  chunkBytes: number;
  /** Fixed node level (verification) or adaptive with at most maxNodes (creation). */
  level?: number;
  maxNodes?: number;
  /** With a worker pool, files of at least `parallelMinBytes` have their leaves hashed on all workers. */
  pool?: ShardHasher;
  parallelMinBytes?: number;
  /** Approximate bytes per parallel segment (cut on the next record boundary). */
  segmentBytes?: number;
}

const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;
const SEGMENT_BYTES = 8 * 1024 * 1024;

const LEAF_PREFIX = Buffer.from([0]);

/**
 * Streams a dataset file into an RFC 6962 Merkle tree with one leaf per record (line, without
 * its '\n') or per fixed-size chunk. Constant memory apart from the kept node level.
 */
export async function datasetMerkle(path: string, options: DatasetMerkleOptions): Promise<MerkleSummary> {
  if (options.pool) {
    const size = (await stat(path).catch((cause: unknown) => {
      throw new WardenError('WARDEN_ARTIFACT_HASH_FAILED', `cannot read ${path}`, { cause });
    })).size;
    if (size >= (options.parallelMinBytes ?? PARALLEL_MIN_BYTES)) return parallelDatasetMerkle(path, size, options, options.pool);
  }
  const acc = new MerkleAccumulator(options.level !== undefined ? { level: options.level } : { maxNodes: options.maxNodes });
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
  let current: Hash | undefined;
  let currentBytes = 0;
  const startLeaf = (): Hash => createHash('sha256').update(LEAF_PREFIX);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let pos = 0;
      if (options.unit === 'record') {
        while (pos < chunk.length) {
          const nl = chunk.indexOf(10, pos);
          if (nl === -1) {
            current ??= startLeaf();
            current.update(chunk.subarray(pos));
            currentBytes += chunk.length - pos;
            break;
          }
          if (current) {
            // A record that started in an earlier read buffer.
            current.update(chunk.subarray(pos, nl));
            acc.addLeafHash(current.digest());
            current = undefined;
            currentBytes = 0;
          } else {
            acc.addLeafHash(merkleLeafHash(chunk.subarray(pos, nl)));
          }
          pos = nl + 1;
        }
      } else {
        while (pos < chunk.length) {
          current ??= startLeaf();
          const take = Math.min(options.chunkBytes - currentBytes, chunk.length - pos);
          current.update(chunk.subarray(pos, pos + take));
          currentBytes += take;
          pos += take;
          if (currentBytes === options.chunkBytes) {
            acc.addLeafHash(current.digest());
            current = undefined;
            currentBytes = 0;
          }
        }
      }
    }
  } catch (cause) {
    throw new WardenError('WARDEN_ARTIFACT_HASH_FAILED', `cannot read ${path}`, { cause });
  }
  // A last line without '\n' is a record; an empty remainder after a final '\n' is not.
  if (current && currentBytes > 0) acc.addLeafHash(current.digest());
  return acc.finish();
}

/** 1-based line numbers (records) or byte offsets (chunks) covered by stored node `index`. */
export function nodeSpan(index: number, level: number, leafCount: number): { firstLeaf: number; lastLeaf: number } {
  const size = 2 ** level;
  const first = index * size;
  return { firstLeaf: first, lastLeaf: Math.min(first + size, leafCount) - 1 };
}

/**
 * Leaves are the costly part (one SHA-256 per row), so they are hashed by the worker pool in
 * record-aligned segments, a bounded number in flight; the main thread folds them into the tree
 * in file order. Produces exactly the nodes of the sequential path.
 */
async function parallelDatasetMerkle(path: string, size: number, options: DatasetMerkleOptions, pool: ShardHasher): Promise<MerkleSummary> {
  const acc = new MerkleAccumulator(options.level !== undefined ? { level: options.level } : { maxNodes: options.maxNodes });
  const bounds = await segmentBoundaries(path, size, options);
  const inflight: Promise<Uint8Array>[] = [];
  let next = 0;
  const maxInflight = Math.max(2, pool.size * 2);
  for (let i = 0; i < bounds.length - 1; i++) {
    while (inflight.length < maxInflight && next < bounds.length - 1) {
      const p = pool.leaves({ path, start: bounds[next]!, end: bounds[next + 1]!, unit: options.unit, chunkBytes: options.chunkBytes });
      p.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
      inflight.push(p);
      next++;
    }
    const leaves = await inflight.shift()!;
    for (let j = 0; j < leaves.length; j += 32) acc.addLeafHash(Buffer.from(leaves.subarray(j, j + 32)));
  }
  return acc.finish();
}

/** [0, b1, …, size]: chunk-aligned, or each cut just after the first '\n' at or past the target offset. */
export async function segmentBoundaries(path: string, size: number, options: Pick<DatasetMerkleOptions, 'unit' | 'chunkBytes' | 'segmentBytes'>): Promise<number[]> {
  const target = options.segmentBytes ?? SEGMENT_BYTES;
  const bounds = [0];
  if (options.unit === 'chunk') {
    const seg = Math.max(options.chunkBytes, Math.floor(target / options.chunkBytes) * options.chunkBytes);
    for (let b = seg; b < size; b += seg) bounds.push(b);
    bounds.push(size);
    return bounds;
  }
  const fh = await open(path, 'r');
  try {
    const window = Buffer.allocUnsafe(64 * 1024);
    for (let t = target; t < size; t += target) {
      let pos = Math.max(t - 1, bounds[bounds.length - 1]!);
      let cut = size;
      while (pos < size) {
        const { bytesRead } = await fh.read(window, 0, Math.min(window.length, size - pos), pos);
        if (bytesRead === 0) break;
        const nl = window.subarray(0, bytesRead).indexOf(10);
        if (nl !== -1) {
          cut = pos + nl + 1;
          break;
        }
        pos += bytesRead;
      }
      if (cut >= size) break;
      if (cut > bounds[bounds.length - 1]!) bounds.push(cut);
      if (cut > t) t = cut - (cut % target); // a long line may span several targets
    }
  } finally {
    await fh.close();
  }
  bounds.push(size);
  return bounds;
}

import { createReadStream } from 'node:fs';
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
}

const LEAF_PREFIX = Buffer.from([0]);

/**
 * Streams a dataset file into an RFC 6962 Merkle tree with one leaf per record (line, without
 * its '\n') or per fixed-size chunk. Constant memory apart from the kept node level.
 */
export async function datasetMerkle(path: string, options: DatasetMerkleOptions): Promise<MerkleSummary> {
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

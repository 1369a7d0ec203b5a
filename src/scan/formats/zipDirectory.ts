import type { RandomSource } from '../io/RandomSource.js';

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

export interface ZipEnd {
  /** Offset of the end-of-central-directory record (of the zip64 one when present). */
  at: number;
  /** Entry count the end record declares (what yauzl and miniz/PyTorch iterate). */
  declaredCount: number;
  /** Central directory size the end record declares (what Python's zipfile walks). */
  cdSize: number;
  /** Where the central directory really starts, prefix included. */
  cdStart: number;
  /** Bytes in front of the zip that its offsets do not count (Python's `concat`). */
  prefix: number;
}

export interface CentralEntry {
  rawName: Buffer;
  extra: Buffer;
  flags: number;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Local header offset, prefix included. */
  localOffset: number;
}

export interface CentralDirectory {
  end: ZipEnd;
  entries: CentralEntry[];
  /** Why the walk stopped early (a loader may still read what follows). */
  error: string | null;
  /** Records that lie outside the declared size or beyond the declared count. */
  mismatch: string | null;
  /** The walk stopped at `maxEntries`. */
  truncated: boolean;
}

/**
 * Serves the many small metadata reads of a zip (central directory records, local headers)
 * from a 64 KiB window instead of one read call each.
 */
export class MetadataReader {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;

  constructor(private readonly src: RandomSource) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < this.windowStart || offset + length > this.windowStart + this.window.length) {
      this.window = await this.src.read(offset, Math.max(length, 64 * 1024));
      this.windowStart = offset;
    }
    const at = offset - this.windowStart;
    return this.window.subarray(at, Math.min(at + length, this.window.length));
  }
}

/**
 * Finds the end record the way Python's zipfile does (last 22 bytes first, then the last
 * signature in the final 64 KiB), so a zip with junk in front or a comment is still found.
 * Null when there is none or it points outside the file. Without `searchComment` only a
 * comment-less end record is looked for (22 bytes read instead of 64 KiB).
 */
export async function findZipEnd(src: RandomSource, searchComment = true): Promise<ZipEnd | null> {
  if (src.size < EOCD_SIZE) return null;
  if (!searchComment) {
    const last = await src.read(src.size - EOCD_SIZE, EOCD_SIZE);
    if (last.readUInt32LE(0) !== EOCD || last.readUInt16LE(20) !== 0) return null;
  }
  const tailStart = Math.max(0, src.size - (EOCD_SIZE + MAX_COMMENT + 20 + 56));
  const tail = await src.read(tailStart, src.size - tailStart);
  let i = tail.length - EOCD_SIZE;
  if (tail.readUInt32LE(i) !== EOCD || tail.readUInt16LE(i + 20) !== 0) {
    i = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (i < 0 || i + EOCD_SIZE > tail.length) return null;
  }
  let at = tailStart + i;
  let declaredCount = tail.readUInt16LE(i + 10);
  let cdSize = tail.readUInt32LE(i + 12);
  let cdOffset = tail.readUInt32LE(i + 16);
  const loc = i - 20;
  if (loc >= 0 && tail.readUInt32LE(loc) === EOCD64_LOCATOR) {
    // Python reads the zip64 record right before the locator (not at the offset it names).
    const at64 = tailStart + loc - 56;
    const rec = at64 >= 0 ? await src.read(at64, 56) : Buffer.alloc(0);
    if (rec.length < 56 || rec.readUInt32LE(0) !== EOCD64) return null;
    const big = (o: number): number | null => {
      const v = rec.readBigUInt64LE(o);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
    };
    const [count, size, offset] = [big(32), big(40), big(48)];
    if (count === null || size === null || offset === null) return null;
    [at, declaredCount, cdSize, cdOffset] = [at64, count, size, offset];
  }
  const prefix = at - cdSize - cdOffset;
  if (prefix < 0) return null;
  return { at, declaredCount, cdSize, cdStart: cdOffset + prefix, prefix };
}

/**
 * Walks central directory records. Loaders disagree on where the directory ends (Python walks
 * the declared byte size, yauzl and miniz the declared count), so records are read while either
 * says there are more, and any disagreement is reported. Unlike yauzl, no flag makes the walk
 * give up: what to make of a flag is the caller's decision.
 */
export async function readCentralDirectory(src: RandomSource | MetadataReader, end: ZipEnd, maxEntries: number): Promise<CentralDirectory> {
  const entries: CentralEntry[] = [];
  const cdEnd = end.cdStart + end.cdSize;
  let pos = end.cdStart;
  let error: string | null = null;
  let truncated = false;
  while (pos < cdEnd || entries.length < end.declaredCount) {
    if (entries.length >= maxEntries) {
      truncated = true;
      break;
    }
    const h = await src.read(pos, 46);
    if (h.length < 46 || h.readUInt32LE(0) !== CENTRAL) {
      // Past the declared size this is just the end record; inside it, a broken directory.
      if (pos < cdEnd) error = `no central directory record at byte ${pos}`;
      break;
    }
    const nameLen = h.readUInt16LE(28);
    const extraLen = h.readUInt16LE(30);
    const commentLen = h.readUInt16LE(32);
    const rest = await src.read(pos + 46, nameLen + extraLen);
    if (rest.length < nameLen + extraLen) {
      error = 'central directory record runs past the end of the file';
      break;
    }
    const entry: CentralEntry = {
      rawName: rest.subarray(0, nameLen),
      extra: rest.subarray(nameLen),
      flags: h.readUInt16LE(8),
      method: h.readUInt16LE(10),
      compressedSize: h.readUInt32LE(20),
      uncompressedSize: h.readUInt32LE(24),
      localOffset: h.readUInt32LE(42),
    };
    applyZip64(entry);
    entry.localOffset += end.prefix;
    entries.push(entry);
    pos += 46 + nameLen + extraLen + commentLen;
  }
  let mismatch: string | null = null;
  if (!truncated && !error) {
    if (entries.length !== end.declaredCount) {
      mismatch = `the end record declares ${end.declaredCount} entries but the central directory holds ${entries.length}`;
    } else if (pos !== cdEnd) {
      mismatch = `the end record declares a ${end.cdSize}-byte central directory but its ${entries.length} records take ${pos - end.cdStart}`;
    }
  }
  return { end, entries, error, mismatch, truncated };
}

/** Replaces 0xFFFFFFFF sizes/offsets with the values of the zip64 extra field (id 1). */
function applyZip64(e: CentralEntry): void {
  for (let p = 0; p + 4 <= e.extra.length; ) {
    const id = e.extra.readUInt16LE(p);
    const len = e.extra.readUInt16LE(p + 2);
    if (id === 1) {
      let q = p + 4;
      const next = (): number | null => {
        if (q + 8 > p + 4 + len || q + 8 > e.extra.length) return null;
        const v = e.extra.readBigUInt64LE(q);
        q += 8;
        return v > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
      };
      if (e.uncompressedSize === 0xffffffff) e.uncompressedSize = next() ?? e.uncompressedSize;
      if (e.compressedSize === 0xffffffff) e.compressedSize = next() ?? e.compressedSize;
      if (e.localOffset === 0xffffffff) e.localOffset = next() ?? e.localOffset;
      return;
    }
    p += 4 + len;
  }
}

/** Extra fields in the shape yauzl's name decoder expects. */
export function splitExtraFields(extra: Buffer): { id: number; data: Buffer }[] {
  const out: { id: number; data: Buffer }[] = [];
  for (let p = 0; p + 4 <= extra.length; ) {
    const len = extra.readUInt16LE(p + 2);
    out.push({ id: extra.readUInt16LE(p), data: extra.subarray(p + 4, p + 4 + len) });
    p += 4 + len;
  }
  return out;
}

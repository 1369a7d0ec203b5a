import type { RandomSource } from './RandomSource.js';

/** Where a ByteReader gets bytes: chunks in order, plus an optional cheap skip (seek). */
export interface ChunkSource {
  next(): Promise<Buffer | null>;
  /** Skips `n` bytes that were not yet delivered without reading them; returns how many were skipped. */
  skip?(n: number): Promise<number>;
}

const EMPTY = Buffer.alloc(0);

/**
 * Sequential reader with a small window, for formats that are parsed front to back (pickle,
 * npy, GGUF). Parsers read `buf[pos]` directly and only await `ensure` at window edges, so the
 * per-opcode cost stays a bounds check; `skip` seeks past payloads instead of reading them.
 */
export class ByteReader {
  buf: Buffer = EMPTY;
  pos = 0;
  /** Absolute offset of buf[0]. */
  private base = 0;
  private eof = false;

  constructor(private readonly source: ChunkSource) {}

  get offset(): number {
    return this.base + this.pos;
  }

  get available(): number {
    return this.buf.length - this.pos;
  }

  /** Makes at least `n` bytes available at `pos`; false when the stream ends first. */
  async ensure(n: number): Promise<boolean> {
    if (this.buf.length - this.pos >= n) return true;
    if (this.eof) return false;
    const parts: Buffer[] = [this.buf.subarray(this.pos)];
    let have = this.buf.length - this.pos;
    this.base += this.pos;
    while (have < n) {
      const chunk = await this.source.next();
      if (chunk === null) {
        this.eof = true;
        break;
      }
      parts.push(chunk);
      have += chunk.length;
    }
    this.buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
    this.pos = 0;
    return have >= n;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.ensure(1));
  }

  /** Advances `n` bytes, seeking when the source allows; returns false when the stream ended first. */
  async skip(n: number): Promise<boolean> {
    const inBuf = this.buf.length - this.pos;
    if (n <= inBuf) {
      this.pos += n;
      return true;
    }
    let rest = n - inBuf;
    this.base += this.buf.length;
    this.buf = EMPTY;
    this.pos = 0;
    if (this.source.skip) {
      const skipped = await this.source.skip(rest);
      this.base += skipped;
      if (skipped < rest) {
        this.eof = true;
        return false;
      }
      return true;
    }
    while (rest > 0) {
      const chunk = await this.source.next();
      if (chunk === null) {
        this.eof = true;
        return false;
      }
      if (chunk.length > rest) {
        this.base += rest;
        this.buf = chunk.subarray(rest);
        return true;
      }
      this.base += chunk.length;
      rest -= chunk.length;
    }
    return true;
  }

  /** Consumes and returns `n` bytes (n small: headers, names). Null when the stream ends first. */
  async take(n: number): Promise<Buffer | null> {
    if (!(await this.ensure(n))) return null;
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const MIN_WINDOW = 64 * 1024;

/**
 * Reads a random-access source front to back; skips are seeks. The window starts small after a
 * seek and doubles while reading stays sequential (like kernel readahead), so skipping a 1 MiB
 * tensor does not read the next one in full.
 */
export function readerFromSource(source: RandomSource, start = 0, maxWindow = 1 << 20): ByteReader {
  let cursor = start;
  let window = Math.min(MIN_WINDOW, maxWindow);
  return new ByteReader({
    async next() {
      if (cursor >= source.size) return null;
      const chunk = await source.read(cursor, window);
      cursor += chunk.length;
      window = Math.min(window * 2, maxWindow);
      return chunk.length ? chunk : null;
    },
    skip(n: number) {
      const skipped = Math.max(0, Math.min(n, source.size - cursor));
      cursor += skipped;
      window = Math.min(MIN_WINDOW, maxWindow);
      return Promise.resolve(skipped);
    },
  });
}

/** Reads a stream (inflated zip entry, gunzip) front to back; skips read and discard. */
export function readerFromIterable(iterable: AsyncIterable<Buffer | Uint8Array | string>): ByteReader {
  const it = iterable[Symbol.asyncIterator]();
  return new ByteReader({
    async next() {
      const r = await it.next();
      if (r.done) return null;
      const v = r.value;
      return typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    },
  });
}

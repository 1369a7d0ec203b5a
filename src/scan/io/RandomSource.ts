import { open, type FileHandle } from 'node:fs/promises';

/**
 * Random access to bytes (a file, a slice of a file, a buffer). Scanners read headers and
 * skip payloads by offset, so multi-GB tensors are never read.
 */
export interface RandomSource {
  readonly size: number;
  /** Reads up to `length` bytes at `offset`; shorter only at the end of the source. */
  read(offset: number, length: number): Promise<Buffer>;
}

export class FileSource implements RandomSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly mtimeMs: number,
  ) {}

  static async open(path: string): Promise<FileSource> {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat();
      return new FileSource(handle, st.size, st.mtimeMs);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.handle.read(buf, got, n - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === n ? buf : buf.subarray(0, got);
  }

  /** True when the file's size or modification time moved since it was opened. */
  async changedSinceOpen(): Promise<boolean> {
    const st = await this.handle.stat();
    return st.size !== this.size || st.mtimeMs !== this.mtimeMs;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export class BufferSource implements RandomSource {
  constructor(private readonly buf: Buffer) {}

  get size(): number {
    return this.buf.length;
  }

  read(offset: number, length: number): Promise<Buffer> {
    const start = Math.max(0, Math.min(offset, this.buf.length));
    return Promise.resolve(this.buf.subarray(start, Math.min(this.buf.length, start + Math.max(0, length))));
  }
}

/** A window of another source (e.g. a stored zip entry inside the file): zero copy. */
export class SliceSource implements RandomSource {
  constructor(
    private readonly parent: RandomSource,
    private readonly start: number,
    readonly size: number,
  ) {}

  read(offset: number, length: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    return this.parent.read(this.start + offset, n);
  }
}

import { Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import yauzl from 'yauzl';
import { unsafeEntryName } from '../unsafeEntryName.js';
import { readerFromIterable } from '../io/ByteReader.js';
import { SliceSource, type RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import type { ScanDispatch } from './dispatch.js';

/** Lets yauzl read any RandomSource (a file, a stored entry inside a parent zip, a buffer). */
class SourceReader extends yauzl.RandomAccessReader {
  constructor(private readonly src: RandomSource) {
    super();
  }

  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;

  /**
   * Metadata reads (central directory records, local headers) come in small sequential pieces;
   * serve them from a 64 KiB window instead of one stream and one read call each.
   */
  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    const inWindow = position >= this.windowStart && position + length <= this.windowStart + this.window.length;
    const done = (): void => {
      const at = position - this.windowStart;
      if (at + length > this.window.length) return callback(new Error('unexpected end of zip data'));
      this.window.copy(buffer, offset, at, at + length);
      callback(null);
    };
    if (inWindow) return done();
    this.src.read(position, Math.max(length, 64 * 1024)).then(
      (chunk) => {
        this.window = chunk;
        this.windowStart = position;
        done();
      },
      (err: Error) => callback(err),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const src = this.src;
    return Readable.from(
      (async function* () {
        for (let pos = start; pos < end; ) {
          const chunk = await src.read(pos, Math.min(1 << 20, end - pos));
          if (chunk.length === 0) throw new Error('unexpected end of zip data');
          pos += chunk.length;
          yield chunk;
        }
      })(),
      { objectMode: false },
    );
  }
}

class SizeExceeded extends Error {}

/** Yields the stream's chunks but fails once they add up to more than `limit` bytes. */
async function* limitBytes(stream: AsyncIterable<Buffer>, limit: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > limit) throw new SizeExceeded();
    yield chunk;
  }
}

const STORED = 0;
const DEFLATED = 8;
const LOCAL_HEADER = 0x04034b50;

/**
 * Fallback for zips whose central directory is unreadable: follows local file headers from the
 * start of the file, as a streaming extractor would. Members with a data descriptor (sizes
 * after the data) end the walk, since their length is unknown.
 */
async function scanLocalHeaders(src: RandomSource, ctx: ScanContext, dispatch: ScanDispatch): Promise<void> {
  let pos = 0;
  for (let count = 0; count < ctx.limits.maxEntries && pos + 30 <= src.size; count++) {
    const h = await src.read(pos, 30);
    if (h.length < 30 || h.readUInt32LE(0) !== LOCAL_HEADER) return;
    const flags = h.readUInt16LE(6);
    const method = h.readUInt16LE(8);
    const compressedSize = h.readUInt32LE(18);
    const uncompressedSize = h.readUInt32LE(22);
    const nameLen = h.readUInt16LE(26);
    const extraLen = h.readUInt16LE(28);
    const name = (await src.read(pos + 30, nameLen)).toString('utf8');
    const dataStart = pos + 30 + nameLen + extraLen;
    const child = ctx.child(name);
    if (flags & 0x8 || dataStart + compressedSize > src.size) {
      child.add('archive/malformed', 'medium', 'member size unknown from its local header; walk stopped');
      return;
    }
    const unsafe = unsafeEntryName(name);
    if (unsafe) child.add('archive/path-traversal', 'high', `member name ${JSON.stringify(name.slice(0, 200))} ${unsafe}`);
    if (child.depth <= ctx.limits.maxDepth && !name.endsWith('/')) {
      if (method === STORED) {
        await dispatch.scanSource(new SliceSource(src, dataStart, compressedSize), name, child);
      } else if (method === DEFLATED && ctx.budget.inflatedBytes + uncompressedSize <= ctx.limits.maxInflatedBytes && uncompressedSize / Math.max(1, compressedSize) <= ctx.limits.maxCompressionRatio) {
        ctx.budget.inflatedBytes += uncompressedSize;
        const raw = Readable.from(readRange(src, dataStart, dataStart + compressedSize));
        const inflater = createInflateRaw();
        const inflated = raw.pipe(inflater);
        try {
          await dispatch.scanStream(readerFromIterable(limitBytes(inflated, uncompressedSize)), name, child, uncompressedSize);
        } catch (err) {
          child.add('archive/malformed', 'medium', `member data: ${(err as Error).message}`);
        } finally {
          inflated.on('error', () => undefined);
          raw.destroy();
          inflater.destroy();
        }
      } else {
        child.add('archive/unsupported-compression', 'medium', `member not scanned (method ${method}, or over the inflate limits)`);
      }
    }
    pos = dataStart + compressedSize;
  }
}

async function* readRange(src: RandomSource, start: number, end: number): AsyncGenerator<Buffer> {
  for (let pos = start; pos < end; ) {
    const chunk = await src.read(pos, Math.min(1 << 20, end - pos));
    if (chunk.length === 0) return;
    pos += chunk.length;
    yield chunk;
  }
}

/**
 * Zip containers: PyTorch (`<root>/data.pkl` + raw storages), Keras v3 (`config.json`), NumPy
 * `.npz`, or any zip. Every member is checked for traversal and bomb ratios; stored members are
 * scanned in place by offset (tensor storages of a PyTorch zip are not read at all),
 * deflated members are streamed through the inflater with a shared byte budget.
 */
export async function scanZip(src: RandomSource, ctx: ScanContext, dispatch: ScanDispatch): Promise<string> {
  let zip: yauzl.ZipFile;
  try {
    // validateEntrySizes is off because yauzl would then reject a tampered (e.g. "encrypted" but
    // stored) entry and stop listing the rest, which is exactly what a bypass wants; sizes are
    // enforced below while inflating instead.
    zip = await yauzl.fromRandomAccessReaderPromise(new SourceReader(src), src.size, { lazyEntries: true, decodeStrings: false, validateEntrySizes: false, autoClose: false });
  } catch (err) {
    // Loaders differ in what they accept (PyTorch's miniz is laxer than most), so an unreadable
    // central directory is not a reason to look away: walk the local headers instead.
    ctx.add('archive/unreadable', 'high', `zip central directory cannot be read (${(err as Error).message}); members were found by their local headers instead`);
    await scanLocalHeaders(src, ctx, dispatch);
    return 'zip';
  }
  const entries: { entry: yauzl.Entry; name: string }[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      if (entries.length >= ctx.limits.maxEntries) {
        ctx.add('archive/too-many-entries', 'high', `more than ${ctx.limits.maxEntries} entries; the rest was not scanned`);
        break;
      }
      // With decodeStrings: false yauzl hands out the raw name bytes (its typings say string).
      const raw = entry.fileName as unknown as Buffer;
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false);
      entries.push({ entry, name });
    }
  } catch (err) {
    ctx.add('archive/malformed', 'medium', `zip central directory: ${(err as Error).message}`);
  }
  const torchRoots = new Set(entries.filter((e) => /(^|\/)data\.pkl$/.test(e.name)).map((e) => e.name.slice(0, e.name.length - 'data.pkl'.length)));
  const names = new Set(entries.map((e) => e.name));
  const format = torchRoots.size
    ? 'pytorch-zip'
    : names.has('config.json') && (names.has('metadata.json') || names.has('model.weights.h5'))
      ? 'keras'
      : entries.length && entries.every((e) => e.name.endsWith('.npy') || e.name.endsWith('/'))
        ? 'npz'
        : 'zip';

  const seen = new Set<string>();
  try {
    for (const { entry, name } of entries) {
      const child = ctx.child(name);
      const unsafe = unsafeEntryName(name);
      if (unsafe) child.add('archive/path-traversal', 'high', `member name ${JSON.stringify(name.slice(0, 200))} ${unsafe}`);
      if (seen.has(name)) child.add('archive/duplicate-entry', 'high', 'member name appears twice: loaders and scanners may read different copies');
      seen.add(name);
      if (name.endsWith('/')) continue;
      if ([...torchRoots].some((root) => name.startsWith(root + 'data/')) ) continue; // raw tensor storage
      const { compressedSize, uncompressedSize, compressionMethod } = entry;
      if (entry.isEncrypted()) {
        // Model writers never encrypt members. PyTorch's reader ignores the flag and reads the
        // bytes as they are, while Python's zipfile (picklescan) refuses them: a known scanner
        // bypass. Scan the bytes as if the flag were not set (real ciphertext simply won't parse).
        child.add('archive/flag-tampering', 'high', 'member claims encryption; loaders that ignore the flag read it as plain data (scanned as such)');
      }
      if (compressionMethod !== STORED && compressionMethod !== DEFLATED) {
        // Python's zipfile (np.load of .npz) inflates bzip2/LZMA members; model writers never
        // produce them, so content that cannot be checked here is itself suspicious.
        child.add('archive/unsupported-compression', 'high', `compression method ${compressionMethod} (not stored/deflate, which model writers use) cannot be checked; member not scanned`);
        continue;
      }
      if (child.depth > ctx.limits.maxDepth) {
        child.add('archive/too-deep', 'high', `archives nested deeper than ${ctx.limits.maxDepth} levels are not scanned`);
        continue;
      }
      if (compressionMethod === DEFLATED && uncompressedSize > 1 << 20 && uncompressedSize / Math.max(1, compressedSize) > ctx.limits.maxCompressionRatio) {
        child.add('archive/zip-bomb', 'high', `compression ratio ${Math.round(uncompressedSize / Math.max(1, compressedSize))}:1 exceeds ${ctx.limits.maxCompressionRatio}:1; member not inflated`);
        continue;
      }
      let dataStart: number;
      try {
        const local = await zip.readLocalFileHeaderPromise(entry);
        dataStart = local.fileDataStart;
        // Extractors that walk local headers and loaders that use the central directory would
        // see different names: a classic way to show a scanner one file and a loader another.
        if (!local.fileName.equals(entry.fileName as unknown as Buffer) || local.compressionMethod !== compressionMethod) {
          child.add('archive/header-mismatch', 'high', 'local header disagrees with the central directory (name or compression method)');
        }
      } catch (err) {
        child.add('archive/malformed', 'medium', `local header: ${(err as Error).message}`);
        continue;
      }
      if (dataStart + compressedSize > src.size) {
        child.add('archive/malformed', 'medium', 'member data runs past the end of the archive');
        continue;
      }
      if (compressionMethod === STORED) {
        await dispatch.scanSource(new SliceSource(src, dataStart, uncompressedSize), name, child);
        continue;
      }
      if (ctx.budget.inflatedBytes + uncompressedSize > ctx.limits.maxInflatedBytes) {
        child.add('scan/limit', 'medium', `inflating this member would exceed the ${ctx.limits.maxInflatedBytes}-byte budget; not scanned`);
        continue;
      }
      ctx.budget.inflatedBytes += uncompressedSize;
      // yauzl 3.4's openReadStreamLowLevelPromise forwards to openReadStream (a bug), so wrap the callback API.
      const stream = await new Promise<Readable>((resolve, reject) =>
        zip.openReadStreamLowLevel(dataStart, compressedSize, 0, compressedSize, true, uncompressedSize, (err, s) => (err ? reject(err) : resolve(s))),
      );
      try {
        await dispatch.scanStream(readerFromIterable(limitBytes(stream, uncompressedSize)), name, child, uncompressedSize);
      } catch (err) {
        if (err instanceof SizeExceeded) child.add('archive/zip-bomb', 'high', `member inflates past its declared ${uncompressedSize} bytes; scanning stopped`);
        else child.add('archive/malformed', 'medium', `member data: ${(err as Error).message}`);
      } finally {
        stream.on('error', () => undefined); // late errors after we stopped reading are moot
        stream.destroy();
      }
    }
  } finally {
    zip.close();
  }
  return format;
}

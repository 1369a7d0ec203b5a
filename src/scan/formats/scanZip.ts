import { Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import yauzl from 'yauzl';
import { unsafeEntryName } from '../unsafeEntryName.js';
import { readerFromIterable } from '../io/ByteReader.js';
import { SliceSource, type RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import type { ScanDispatch } from './dispatch.js';
import { MetadataReader, findZipEnd, readCentralDirectory, splitExtraFields, type CentralEntry } from './zipDirectory.js';

class SizeExceeded extends Error {}
class BudgetExceeded extends Error {}

/**
 * Yields the inflated chunks, failing once they pass the member's declared size or the shared
 * budget. The budget is charged with bytes really inflated, not declared sizes: declared sizes
 * are attacker-chosen, and charging them let empty members use up the budget before the payload.
 */
async function* countInflated(stream: AsyncIterable<Buffer>, declared: number, ctx: ScanContext): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > declared) throw new SizeExceeded();
    ctx.budget.inflatedBytes += chunk.length;
    if (ctx.budget.inflatedBytes > ctx.limits.maxInflatedBytes) throw new BudgetExceeded();
    yield chunk;
  }
}

const STORED = 0;
const DEFLATED = 8;
const LOCAL_HEADER = 0x04034b50;

interface Member {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  dataStart: number;
}

async function* readRange(src: RandomSource, start: number, end: number): AsyncGenerator<Buffer> {
  for (let pos = start; pos < end; ) {
    const chunk = await src.read(pos, Math.min(1 << 20, end - pos));
    if (chunk.length === 0) return;
    pos += chunk.length;
    yield chunk;
  }
}

/** Scans one member's data: stored in place by offset, deflated through the inflater. */
async function scanMemberData(src: RandomSource, m: Member, child: ScanContext, ctx: ScanContext, dispatch: ScanDispatch): Promise<void> {
  if (m.method !== STORED && m.method !== DEFLATED) {
    // Python's zipfile (np.load of .npz) inflates bzip2/LZMA members; model writers never
    // produce them, so content that cannot be checked here is itself suspicious.
    child.add('archive/unsupported-compression', 'high', `compression method ${m.method} (not stored/deflate, which model writers use) cannot be checked; member not scanned`);
    return;
  }
  if (child.depth > ctx.limits.maxDepth) {
    child.add('archive/too-deep', 'high', `archives nested deeper than ${ctx.limits.maxDepth} levels are not scanned`);
    return;
  }
  if (m.dataStart + m.compressedSize > src.size) {
    child.add('archive/malformed', 'high', 'member data runs past the end of the archive; not scanned');
    return;
  }
  if (m.method === STORED) {
    if (m.compressedSize !== m.uncompressedSize) child.add('archive/malformed', 'high', `stored member declares ${m.compressedSize} stored but ${m.uncompressedSize} uncompressed bytes; readers disagree on its end`);
    await dispatch.scanSource(new SliceSource(src, m.dataStart, Math.min(m.compressedSize, m.uncompressedSize)), m.name, child);
    return;
  }
  if (m.uncompressedSize > 1 << 20 && m.uncompressedSize / Math.max(1, m.compressedSize) > ctx.limits.maxCompressionRatio) {
    child.add('archive/zip-bomb', 'high', `compression ratio ${Math.round(m.uncompressedSize / Math.max(1, m.compressedSize))}:1 exceeds ${ctx.limits.maxCompressionRatio}:1; member not inflated`);
    return;
  }
  const raw = Readable.from(readRange(src, m.dataStart, m.dataStart + m.compressedSize));
  const inflater = createInflateRaw();
  const inflated = raw.pipe(inflater);
  try {
    await dispatch.scanStream(readerFromIterable(countInflated(inflated, m.uncompressedSize, ctx)), m.name, child, m.uncompressedSize);
  } catch (err) {
    if (err instanceof SizeExceeded) child.add('archive/zip-bomb', 'high', `member inflates past its declared ${m.uncompressedSize} bytes; scanning stopped`);
    else if (err instanceof BudgetExceeded) child.add('scan/limit', 'high', `inflated data passed the ${ctx.limits.maxInflatedBytes}-byte budget; the rest of the archive was not scanned`);
    else child.add('archive/malformed', 'high', `member data cannot be inflated (${(err as Error).message}); not scanned`);
  } finally {
    inflated.on('error', () => undefined); // late errors after we stopped reading are moot
    raw.destroy();
    inflater.destroy();
  }
}

/**
 * Fallback for zips whose central directory is unreadable: follows local file headers from the
 * start of the file, as a streaming extractor would. Members with a data descriptor (sizes
 * after the data) end the walk, since their length is unknown. Local headers at `skip` were
 * already scanned through the central directory.
 */
async function scanLocalHeaders(src: RandomSource, ctx: ScanContext, dispatch: ScanDispatch, skip: ReadonlySet<number> = new Set()): Promise<void> {
  let pos = 0;
  for (let count = 0; count < ctx.limits.maxEntries && pos + 30 <= src.size; count++) {
    const h = await src.read(pos, 30);
    if (h.length < 30 || h.readUInt32LE(0) !== LOCAL_HEADER) return;
    const flags = h.readUInt16LE(6);
    const nameLen = h.readUInt16LE(26);
    const extraLen = h.readUInt16LE(28);
    const name = (await src.read(pos + 30, nameLen)).toString('utf8');
    const member: Member = { name, method: h.readUInt16LE(8), compressedSize: h.readUInt32LE(18), uncompressedSize: h.readUInt32LE(22), dataStart: pos + 30 + nameLen + extraLen };
    const child = ctx.child(name);
    if (flags & 0x8 || member.dataStart + member.compressedSize > src.size) {
      child.add('archive/malformed', 'high', 'member size unknown from its local header; walk stopped');
      return;
    }
    if (!skip.has(pos)) {
      const unsafe = unsafeEntryName(name);
      if (unsafe) child.add('archive/path-traversal', 'high', `member name ${JSON.stringify(name.slice(0, 200))} ${unsafe}`);
      if (!name.endsWith('/')) await scanMemberData(src, member, child, ctx, dispatch);
    }
    pos = member.dataStart + member.compressedSize;
  }
}

function entryName(e: CentralEntry): string {
  return yauzl.getFileNameLowLevel(e.flags, e.rawName, splitExtraFields(e.extra), false);
}

/**
 * Zip containers: PyTorch (`<root>/data.pkl` + raw storages), Keras v3 (`config.json`), NumPy
 * `.npz`, or any zip. Every member is checked for traversal and bomb ratios; stored members are
 * scanned in place by offset (tensor storages of a PyTorch zip are not read at all),
 * deflated members are streamed through the inflater with a shared byte budget.
 *
 * The central directory is read here rather than by a zip library: libraries stop at the first
 * record they dislike (yauzl on "strong encryption") or trust the declared entry count, and
 * each such stop is a place to hide members from the scanner that a laxer loader still reads.
 */
export async function scanZip(src: RandomSource, ctx: ScanContext, dispatch: ScanDispatch): Promise<string> {
  const end = await findZipEnd(src);
  if (!end) {
    // Loaders differ in what they accept (PyTorch's miniz is laxer than most), so an unreadable
    // central directory is not a reason to look away: walk the local headers instead.
    ctx.add('archive/unreadable', 'high', 'zip end-of-central-directory record not found; members were found by their local headers instead');
    await scanLocalHeaders(src, ctx, dispatch);
    return 'zip';
  }
  const meta = new MetadataReader(src);
  const dir = await readCentralDirectory(meta, end, ctx.limits.maxEntries);
  if (end.prefix > 0) {
    ctx.add('archive/prefixed-data', 'high', `${end.prefix} bytes precede the zip; zipfile (Keras, np.load of a path) still opens it, and the prefix can be another format's payload`);
  }
  if (dir.truncated) ctx.add('archive/too-many-entries', 'high', `more than ${ctx.limits.maxEntries} entries; the rest was not scanned`);
  if (dir.mismatch) ctx.add('archive/entry-count-mismatch', 'high', `${dir.mismatch}: zip readers disagree on which members exist (all records found are scanned)`);
  if (dir.error) ctx.add('archive/unreadable', 'high', `zip central directory: ${dir.error}; members were also looked for by their local headers`);

  const entries = dir.entries.map((entry) => ({ entry, name: entryName(entry) }));
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
  const scannedLocal = new Set<number>();
  for (const { entry, name } of entries) {
    if (ctx.budget.inflatedBytes > ctx.limits.maxInflatedBytes) break; // reported where it ran out
    const child = ctx.child(name);
    const unsafe = unsafeEntryName(name);
    if (unsafe) child.add('archive/path-traversal', 'high', `member name ${JSON.stringify(name.slice(0, 200))} ${unsafe}`);
    if (seen.has(name)) child.add('archive/duplicate-entry', 'high', 'member name appears twice: loaders and scanners may read different copies');
    seen.add(name);
    if (name.endsWith('/')) continue;
    if ([...torchRoots].some((root) => name.startsWith(root + 'data/'))) continue; // raw tensor storage
    if (entry.flags & 0x41) {
      // Model writers never encrypt members. PyTorch's reader ignores the flags and reads the
      // bytes as they are, while Python's zipfile (picklescan) and yauzl refuse them: a known
      // scanner bypass. Scan the bytes as if the flag were not set (real ciphertext won't parse).
      child.add('archive/flag-tampering', 'high', 'member claims encryption; loaders that ignore the flag read it as plain data (scanned as such)');
    }
    const local = await meta.read(entry.localOffset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL_HEADER) {
      child.add('archive/malformed', 'high', 'no local header where the central directory points; member not scanned');
      continue;
    }
    scannedLocal.add(entry.localOffset);
    const localNameLen = local.readUInt16LE(26);
    const localName = await meta.read(entry.localOffset + 30, localNameLen);
    // Extractors that walk local headers and loaders that use the central directory would
    // see different names: a classic way to show a scanner one file and a loader another.
    if (!localName.equals(entry.rawName) || local.readUInt16LE(8) !== entry.method) {
      child.add('archive/header-mismatch', 'high', 'local header disagrees with the central directory (name or compression method)');
    }
    const dataStart = entry.localOffset + 30 + localNameLen + local.readUInt16LE(28);
    await scanMemberData(src, { name, method: entry.method, compressedSize: entry.compressedSize, uncompressedSize: entry.uncompressedSize, dataStart }, child, ctx, dispatch);
  }
  if (dir.error || dir.mismatch) await scanLocalHeaders(src, ctx, dispatch, scannedLocal);
  return format;
}

import type { ByteReader } from '../io/ByteReader.js';
import { scanPickleStream } from '../pickle/scanPickle.js';
import type { ScanContext } from '../ScanContext.js';

const MAX_HEADER = 1 << 20;

/**
 * NumPy `.npy`: a Python-literal header, then raw data, or, for object dtypes, a pickle (what
 * `np.load(allow_pickle=True)` unpickles). Numeric data is skipped; object data is scanned.
 * `size` is the total length when known (to check the data length).
 */
export async function scanNpy(r: ByteReader, ctx: ScanContext, size: number | undefined): Promise<void> {
  const start = r.offset;
  const bad = (msg: string): void => ctx.add('numpy/invalid', 'medium', `invalid .npy: ${msg}`, start);
  const pre = await r.take(8);
  if (pre === null) return bad('truncated magic');
  const major = pre[6]!;
  if (major < 1 || major > 3) return bad(`unsupported version ${major}`);
  const lenBytes = await r.take(major === 1 ? 2 : 4);
  if (lenBytes === null) return bad('truncated header length');
  const headerLen = major === 1 ? lenBytes.readUInt16LE(0) : lenBytes.readUInt32LE(0);
  if (headerLen > MAX_HEADER) return bad(`header length ${headerLen} exceeds 1 MiB`);
  const headerBuf = await r.take(headerLen);
  if (headerBuf === null) return bad('truncated header');
  const header = headerBuf.toString(major === 3 ? 'utf8' : 'latin1');
  const descrMatch = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeMatch || !/['"]descr['"]\s*:/.test(header)) return bad('header lacks descr or shape');
  const hasObject = descrMatch ? /^[|<>=]?O\d*$/.test(descrMatch[2]!) : /['"][|<>=]?O\d*['"]/.test(header);
  if (hasObject) {
    ctx.add('numpy/object-dtype', 'medium', 'object dtype: the data is a pickle and np.load needs allow_pickle=True (scanned below)', start);
    await scanPickleStream(r, ctx, { single: true });
    return;
  }
  const dims = shapeMatch[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!dims.every((d) => /^\d+L?$/.test(d))) return bad('shape is not a tuple of integers');
  const count = dims.reduce((a, d) => a * Number.parseInt(d, 10), 1);
  const m = descrMatch ? /^[|<>=]?([a-zA-Z])(\d*)$/.exec(descrMatch[2]!) : null;
  if (!m || size === undefined) return; // structured dtypes: sizes are not recomputed here
  const width = Number(m[2] || '1') * (m[1] === 'U' ? 4 : 1);
  const dataLen = size - r.offset;
  const expected = count * width;
  if (dataLen < expected) bad(`data is ${dataLen} bytes, shape and dtype need ${expected}`);
  else if (dataLen > expected) ctx.add('numpy/trailing-data', 'low', `${dataLen - expected} bytes after the array data`, r.offset + expected);
}

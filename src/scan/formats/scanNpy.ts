import type { ByteReader } from '../io/ByteReader.js';
import { scanPickleStream } from '../pickle/scanPickle.js';
import type { ScanContext } from '../ScanContext.js';
import { FIXED_CODE_SIZES, PLATFORM_CODE_SIZES, SIMPLE_DESCR } from '../numpyTypeCodes.js';
import { PyLiteralError, parsePyLiteral, type PyLiteral } from './parsePyLiteral.js';

const MAX_HEADER = 1 << 20;

/** Item size of single-character NumPy type codes (`np.dtype('d')`); only the data-length check uses it, so the platform's may be assumed. */
const charCodeWidth: Readonly<Record<string, number>> = { ...FIXED_CODE_SIZES, ...PLATFORM_CODE_SIZES };

type DtypeKind = { kind: 'plain'; width: number | null } | { kind: 'object' } | { kind: 'unknown'; descr: string };

/**
 * What `np.load` makes of a header `descr`: plain data (numbers, bytes, strings, datetimes)
 * with its item size, an object dtype (the data is a pickle), or something this scanner does
 * not recognise (which np.load might still turn into an object dtype).
 */
function classifyDescr(descr: PyLiteral, depth = 0): DtypeKind {
  if (typeof descr === 'string') {
    if (/^[<>|=]?object_?$/.test(descr)) return { kind: 'object' }; // np.dtype('object')
    const m = SIMPLE_DESCR.exec(descr);
    if (!m) return { kind: 'unknown', descr };
    const [, code, digits, unit] = m as unknown as [string, string, string, string | undefined];
    if (code === 'O') return { kind: 'object' };
    if (unit !== undefined && code !== 'M' && code !== 'm') return { kind: 'unknown', descr };
    if (digits === '') return code in charCodeWidth ? { kind: 'plain', width: charCodeWidth[code]! } : { kind: 'unknown', descr };
    if (!'biufcSaUVMm'.includes(code)) return { kind: 'unknown', descr };
    return { kind: 'plain', width: Number(digits) * (code === 'U' ? 4 : 1) };
  }
  // Structured dtype: [(name, type), (name, type, shape), ...]; object if any field is.
  if (Array.isArray(descr) && depth < 8) {
    let unknown: DtypeKind | null = null;
    for (const field of descr) {
      const parts = field !== null && typeof field === 'object' && 'tuple' in field ? field.tuple : null;
      if (!parts || parts.length < 2 || parts.length > 3) return { kind: 'unknown', descr: 'structured field that is not a (name, type[, shape]) tuple' };
      const inner = classifyDescr(parts[1]!, depth + 1);
      if (inner.kind === 'object') return inner;
      if (inner.kind === 'unknown') unknown ??= inner;
    }
    return unknown ?? { kind: 'plain', width: null };
  }
  return { kind: 'unknown', descr: JSON.stringify(descr) ?? String(descr) };
}

/**
 * NumPy `.npy`: a Python-literal header, then raw data, or, for object dtypes, a pickle (what
 * `np.load(allow_pickle=True)` unpickles). Numeric data is skipped; object data is scanned.
 * The header is parsed as the Python literal np.load evaluates (last duplicate key wins); a
 * header it cannot parse, or a dtype it does not know, is `high` and the data is scanned as a
 * pickle anyway. `size` is the total length when known (to check the data length).
 */
export async function scanNpy(r: ByteReader, ctx: ScanContext, size: number | undefined): Promise<void> {
  const start = r.offset;
  const bad = (msg: string): void => ctx.add('numpy/invalid', 'high', `invalid .npy (np.load may still read it; not validated): ${msg}`, start);
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
  let header: PyLiteral;
  try {
    header = parsePyLiteral(headerBuf.toString(major === 3 ? 'utf8' : 'latin1'));
  } catch (err) {
    if (!(err instanceof PyLiteralError)) throw err;
    bad(`header is not a Python literal the scanner can read (${err.message}); data scanned as a pickle`);
    await scanPickleStream(r, ctx, { single: true });
    return;
  }
  if (!(header instanceof Map) || !header.has('descr') || !header.has('shape')) return bad('header lacks descr or shape');
  const dtype = classifyDescr(header.get('descr')!);
  if (dtype.kind !== 'plain') {
    if (dtype.kind === 'object') ctx.add('numpy/object-dtype', 'medium', 'object dtype: the data is a pickle and np.load needs allow_pickle=True (scanned below)', start);
    else ctx.add('numpy/unsupported-dtype', 'high', `dtype ${JSON.stringify(dtype.descr.slice(0, 200))} is not a plain type the scanner knows; np.load may unpickle the data (scanned as a pickle)`, start);
    await scanPickleStream(r, ctx, { single: true });
    return;
  }
  const shape = header.get('shape');
  const dims = shape !== null && typeof shape === 'object' && 'tuple' in shape ? shape.tuple : null;
  if (!dims || !dims.every((d) => typeof d === 'number' && d >= 0)) return bad('shape is not a tuple of integers');
  if (dtype.width === null || size === undefined) return; // structured dtypes: sizes are not recomputed here
  const count = (dims as number[]).reduce((a, d) => a * d, 1);
  const dataLen = size - r.offset;
  const expected = count * dtype.width;
  if (dataLen < expected) bad(`data is ${dataLen} bytes, shape and dtype need ${expected}`);
  else if (dataLen > expected) ctx.add('numpy/trailing-data', 'low', `${dataLen - expected} bytes after the array data`, r.offset + expected);
}

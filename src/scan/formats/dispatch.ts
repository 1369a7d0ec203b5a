import { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { DETECT_BYTES, detectFormat, type DetectedFormat } from '../detectFormat.js';
import { readerFromIterable, readerFromSource, type ByteReader } from '../io/ByteReader.js';
import { BufferSource, type RandomSource } from '../io/RandomSource.js';
import { scanPickleStream, sniffPickle } from '../pickle/scanPickle.js';
import type { ScanContext } from '../ScanContext.js';
import { scanGguf } from './scanGguf.js';
import { scanH5 } from './scanH5.js';
import { scanJson } from './scanJson.js';
import { scanNpy } from './scanNpy.js';
import { scanOnnx } from './scanOnnx.js';
import { scanSafetensors } from './scanSafetensors.js';
import { probeProtobuf } from './probeProtobuf.js';
import { scanSavedModel } from './scanSavedModel.js';
import { scanTar } from './scanTar.js';
import { scanZip } from './scanZip.js';
import { findZipEnd } from './zipDirectory.js';

export interface ScanDispatch {
  /** Scans random-access bytes; returns the detected format. */
  scanSource(src: RandomSource, name: string, ctx: ScanContext): Promise<string>;
  /** Scans bytes that can only be read front to back (inflated members); `size` when known. */
  scanStream(r: ByteReader, name: string, ctx: ScanContext, size: number | undefined): Promise<string>;
}

/** Extensions that only ever hold pickles: content that fails to parse is still reported. */
const pickleExtensions = /\.(pkl|pickle|joblib|pt|pth|ckpt|dill)$/i;

function baseName(name: string): string {
  return name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
}

async function scanAsPickle(r: ByteReader, ctx: ScanContext): Promise<string> {
  const res = await scanPickleStream(r, ctx);
  return res.legacyTorch ? 'pytorch-legacy' : 'pickle';
}

const unsupportedCompression: Partial<Record<DetectedFormat, string>> = { bzip2: 'bzip2', xz: 'xz', lzma: 'raw LZMA', lz4: 'lz4' };

/** Parses `src` as the format its content says it is. */
async function scanSourceAs(fmt: DetectedFormat, head: Buffer, src: RandomSource, name: string, ctx: ScanContext): Promise<string> {
  if (fmt !== 'tar' && head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') {
    // tarfile rejects the header; torch.load then falls back to unpickling the same bytes.
    ctx.add('archive/malformed', 'high', 'tar magic without a valid 512-byte header (checksum); not read as a tar, scanned by its content instead', 0);
  }
  switch (fmt) {
    case 'zip':
      return scanZip(src, ctx, dispatch);
    case 'tar':
      return scanTar(src, ctx, dispatch);
    case 'safetensors':
      await scanSafetensors(src, ctx);
      return 'safetensors';
    case 'gguf':
      await scanGguf(src, ctx);
      return 'gguf';
    case 'hdf5':
      await scanH5(readerFromSource(src), ctx);
      return 'hdf5';
    case 'json':
      return (await scanJson(src, ctx)) ?? unparsableJson(name, ctx);
    case 'protobuf?':
    case 'pickle?': {
      const base = baseName(name);
      const onnxName = /\.onnx$/i.test(base);
      // Protobuf fields may come in any order, so an .onnx need not start like one.
      if (fmt === 'pickle?' && !onnxName) return dispatch.scanStream(readerFromSource(src), name, ctx, src.size);
      if (base === 'keras_metadata.pb') {
        await scanH5(readerFromSource(src), ctx); // same search: Keras layer configs are stored as JSON strings
        return 'keras-metadata';
      }
      const kind = await probeProtobuf(src);
      // TensorFlow reads saved_model.pb by name whatever else the bytes look like.
      const savedModel = kind === 'tf-savedmodel' || base === 'saved_model.pb';
      if (savedModel) await scanSavedModel(src, ctx);
      if (kind === 'onnx') {
        await scanOnnx(src, ctx);
        return savedModel ? 'tf-savedmodel' : 'onnx';
      }
      if (savedModel) return 'tf-savedmodel';
      if (onnxName) ctx.add('onnx/invalid', 'high', 'named .onnx but not recognisable as an ONNX model (no graph, or not a protobuf); not validated');
      return dispatch.scanStream(readerFromSource(src), name, ctx, src.size);
    }
    default:
      return dispatch.scanStream(readerFromSource(src), name, ctx, src.size);
  }
}

/** Model configs that loaders parse by name: one the scanner cannot parse is not looked away from. */
function unparsableJson(name: string, ctx: ScanContext): string {
  if (baseName(name) === 'config.json') {
    ctx.add('format/invalid-json', 'high', 'config.json cannot be parsed as JSON in any encoding Python accepts; its model config was not checked');
  }
  return 'json';
}

/**
 * A zip is found from its end (Python's zipfile, so Keras), not its first bytes: one behind
 * other data is still opened by those readers. Returns its format when there is one.
 */
async function zipAtEnd(src: RandomSource, head: Buffer, ctx: ScanContext, searchComment: boolean): Promise<string | null> {
  const end = await findZipEnd(src, searchComment);
  if (!end || end.declaredCount === 0 || end.cdStart >= src.size) return null;
  const sig = await src.read(end.cdStart, 4);
  if (sig.length < 4 || sig.readUInt32LE(0) !== 0x02014b50) return null;
  if (end.prefix === 0) ctx.add('format/polyglot', 'high', `a zip archive ends this file but does not start it (it starts with ${JSON.stringify(head.subarray(0, 8).toString('latin1'))}); zip readers that look at the end open it (scanned as a zip too)`, 0);
  return scanZip(src, ctx, dispatch);
}

/**
 * A magic number only says what one reader will make of the file; pickle.load and torch.load
 * (non-zip) run the same bytes as opcodes whatever they start with. So when a format's own
 * parser did not validate the file cleanly (any finding of medium or above), or the format is
 * one whose header can double as opcodes (tar), the start is also tried as a pickle.
 */
async function alsoAsPickle(src: RandomSource, head: Buffer, fmt: string, ctx: ScanContext, doubtful: boolean): Promise<void> {
  if (!(doubtful || fmt === 'tar' || fmt === 'pytorch-legacy-tar') || !(await sniffPickle(head, ctx))) return;
  ctx.add('format/polyglot', 'high', `the file is both ${fmt} and a pickle: pickle.load / torch.load run it as opcodes (scanned as a pickle too)`, 0);
  await scanPickleStream(readerFromSource(src), ctx);
}

/** Formats whose parser is followed by the pickle check above. */
const validatedFormats = new Set(['tar', 'pytorch-legacy-tar', 'safetensors', 'gguf', 'onnx', 'tf-savedmodel']);

export const dispatch: ScanDispatch = {
  async scanSource(src, name, ctx) {
    const head = await src.read(0, DETECT_BYTES);
    const fmt = detectFormat(head, src.size);
    const before = ctx.findings.length;
    const format = await scanSourceAs(fmt, head, src, name, ctx);
    const doubtful = !validatedFormats.has(format) || ctx.findings.slice(before).some((f) => f.severity !== 'low' && f.severity !== 'info');
    if (validatedFormats.has(format)) await alsoAsPickle(src, head, format, ctx, doubtful);
    // A cleanly validated file only gets the cheap look for a comment-less zip end record.
    const zipFormat = fmt === 'zip' ? null : await zipAtEnd(src, head, ctx, doubtful);
    return zipFormat && format === 'unknown' ? zipFormat : zipFormat ? `${format}+${zipFormat}` : format;
  },

  async scanStream(r, name, ctx, size) {
    await r.ensure(DETECT_BYTES);
    const head = r.buf.subarray(r.pos, r.pos + DETECT_BYTES);
    const fmt = detectFormat(head, size ?? Number.MAX_SAFE_INTEGER);
    if (fmt === 'pickle') return scanAsPickle(r, ctx);
    if (fmt === 'numpy') {
      await scanNpy(r, ctx, size);
      return 'numpy';
    }
    if (fmt === 'hdf5') {
      await scanH5(r, ctx);
      return 'hdf5';
    }
    if (fmt === 'gzip' || fmt === 'zlib') {
      if (ctx.depth >= ctx.limits.maxDepth) {
        ctx.add('archive/too-deep', 'high', `compressed data nested deeper than ${ctx.limits.maxDepth} levels is not scanned`);
        return fmt;
      }
      if (fmt === 'zlib' && head.subarray(0, 3).toString('latin1') === 'ZF0') {
        // joblib < 0.10 "ZF0x" + 5-byte length header before the zlib stream.
        await r.skip(5);
      }
      return scanCompressed(r, fmt, name, ctx);
    }
    const unsupported = unsupportedCompression[fmt];
    if (unsupported) {
      // joblib.load and lzma/bz2.open decompress these transparently, so contents that cannot
      // be inspected here may be anything: fail closed.
      ctx.add('archive/unsupported-compression', 'high', `${unsupported}-compressed data (e.g. joblib compress=) cannot be decompressed here; contents cannot be inspected`);
      return fmt;
    }
    if ((fmt === 'pickle?' || fmt === 'protobuf?' || fmt === 'unknown') && /\.json$/i.test(name) && size !== 0) {
      // Python's json.loads(bytes) also reads UTF-16/32 and BOM-prefixed UTF-8, which do not
      // look like text to the magic-byte check. If it is not JSON after all, the checks below
      // run on the buffered bytes (under a name without .json, so this branch is not re-entered).
      const bytes = await readAll(r, ctx.limits.maxJsonBytes);
      if (bytes === null) {
        ctx.add('scan/limit', 'high', `${name} is larger than ${ctx.limits.maxJsonBytes} bytes and not text JSON; not scanned`);
        return fmt;
      }
      const json = await scanJson(new BufferSource(bytes), ctx);
      if (json) return json;
      unparsableJson(name, ctx);
      return dispatch.scanStream(readerFromSource(new BufferSource(bytes)), name.replace(/\.json$/i, ''), ctx, bytes.length);
    }
    if (fmt === 'pickle?' || fmt === 'protobuf?') {
      if (await sniffPickle(head, ctx)) return scanAsPickle(r, ctx);
      if (pickleExtensions.test(name)) return scanAsPickle(r, ctx);
      if (ctx.depth === 0) ctx.add('format/unknown', 'info', 'format not recognised from its content; not scanned');
      return 'unknown';
    }
    if (fmt === 'unknown') {
      if (ctx.depth === 0) ctx.add('format/unknown', 'info', 'empty or unrecognised file; not scanned');
      return 'unknown';
    }
    // Random-access formats inside a stream: buffer when small enough.
    const bytes = await readAll(r, ctx.limits.maxBufferedBytes);
    if (bytes === null) {
      ctx.add('scan/limit', 'medium', `compressed ${fmt} member larger than ${ctx.limits.maxBufferedBytes} bytes needs random access; not scanned`);
      return fmt;
    }
    return dispatch.scanSource(new BufferSource(bytes), name, ctx);
  },
};

async function readAll(r: ByteReader, max: number): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    if (!(await r.ensure(1))) break;
    const chunk = Buffer.from(r.buf.subarray(r.pos));
    total += chunk.length;
    if (total > max) return null;
    parts.push(chunk);
    r.pos = r.buf.length;
  }
  return Buffer.concat(parts, total);
}

/** gzip / zlib streams (compressed joblib, .pkl.gz): inflated through a byte budget. */
async function scanCompressed(r: ByteReader, fmt: 'gzip' | 'zlib', name: string, ctx: ScanContext): Promise<string> {
  const child = ctx.child(`(${fmt})`);
  const budget = ctx.budget;
  const limit = ctx.limits.maxInflatedBytes;
  const input = Readable.from(
    (async function* () {
      while (await r.ensure(1)) {
        const chunk = r.buf.subarray(r.pos);
        r.pos = r.buf.length;
        yield chunk;
      }
    })(),
  );
  const inflater = fmt === 'gzip' ? createGunzip() : createInflate();
  const counted = (async function* () {
    for await (const chunk of input.pipe(inflater) as AsyncIterable<Buffer>) {
      budget.inflatedBytes += chunk.length;
      if (budget.inflatedBytes > limit) throw new BudgetExceeded();
      yield chunk;
    }
  })();
  try {
    const inner = await dispatch.scanStream(readerFromIterable(counted), name.replace(/\.(gz|z)$/i, ''), child, undefined);
    return `${fmt}+${inner}`;
  } catch (err) {
    if (err instanceof BudgetExceeded) child.add('archive/zip-bomb', 'high', `decompressed data exceeds the ${limit}-byte budget; scanning stopped`);
    else child.add('archive/malformed', 'high', `${fmt} stream cannot be decompressed (${(err as Error).message}); the rest was not scanned`);
    return fmt;
  } finally {
    input.destroy();
    inflater.destroy();
  }
}

class BudgetExceeded extends Error {}

import { Op } from './pickle/opcodes.js';

/** Formats the scanner tells apart by content. */
export type DetectedFormat =
  | 'zip' | 'tar' | 'gzip' | 'zlib' | 'bzip2' | 'xz' | 'lzma' | 'lz4' | 'numpy' | 'safetensors' | 'gguf' | 'hdf5'
  | 'pickle' | 'pickle?' | 'protobuf?' | 'json' | 'unknown';

/** Bytes of the file start that `detectFormat` needs. */
export const DETECT_BYTES = 1024;

/**
 * Format from magic bytes, never from the extension: a `.bin` may be a zip, a `.safetensors`
 * a pickle. `pickle?` (no PROTO header) and `protobuf?` (no magic at all) are confirmed by the
 * caller with a structural probe.
 */
export function detectFormat(head: Buffer, size: number): DetectedFormat {
  const b = head;
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6)) return 'zip';
  if (b.length >= 6 && b.subarray(0, 6).toString('latin1') === '\x93NUMPY') return 'numpy';
  if (b.length >= 4 && b.subarray(0, 4).toString('latin1') === 'GGUF') return 'gguf';
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'hdf5';
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.length >= 4 && b.readUInt32LE(0) === 0x184d2204) return 'lz4';
  if (isTarHeader(b)) return 'tar';
  // 8-byte little-endian header length, then the JSON header's '{'.
  if (b.length >= 9 && b[8] === 0x7b && b.readUInt32LE(4) === 0 && b.readUInt32LE(0) + 8 <= size) return 'safetensors';
  if (b.length >= 9 && b[8] === 0x7b && b.readUInt32LE(4) < 0x10000 && b[0] !== Op.PROTO) return 'safetensors';
  if (b.length >= 2 && b[0] === Op.PROTO && b[1]! <= 5) return 'pickle';
  // joblib's zlib-compressed files: "ZF0x" header, or a bare zlib stream (0x78 + valid FCHECK).
  if (b.length >= 2 && b[0] === 0x78 && ((b[0] << 8) | b[1]!) % 31 === 0) return 'zlib';
  if (b.length >= 4 && b.subarray(0, 3).toString('latin1') === 'ZF0') return 'zlib';
  const firstNonSpace = b.findIndex((c) => c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09);
  if (firstNonSpace >= 0 && (b[firstNonSpace] === 0x7b || b[firstNonSpace] === 0x5b) && looksLikeText(b)) return 'json';
  if (isLzmaAloneHeader(b)) return 'lzma';
  if (b.length >= 1 && size > 0) {
    const c = b[0]!;
    if (c === 0x08 || c === 0x0a || c === 0x12) return 'protobuf?';
    return 'pickle?';
  }
  return 'unknown';
}

/**
 * A tar header: a full 512-byte block with "ustar" and a checksum that adds up. The magic alone
 * is not enough: a pickle can carry "ustar" at byte 257 and still be read as a pickle by
 * pickle.load / torch.load, which never look at tar checksums.
 */
export function isTarHeader(b: Buffer): boolean {
  if (b.length < 512 || b.subarray(257, 262).toString('latin1') !== 'ustar') return false;
  const field = b.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return Number.parseInt(field, 8) === sum;
}

/**
 * Raw LZMA ("alone", `.lzma`, joblib's `compress='lzma'`): no magic, just a properties byte
 * (lc/lp/pb), a dictionary size and the uncompressed size (or -1 for unknown). Checked last,
 * after every format with a real magic number.
 */
function isLzmaAloneHeader(b: Buffer): boolean {
  if (b.length < 13 || b[0]! >= 225) return false;
  const dict = b.readUInt32LE(1);
  const pow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  const dictOk = dict >= 4096 && (pow2(dict) || pow2(dict / 3));
  const size = b.readBigUInt64LE(5);
  return dictOk && (size === 0xffffffffffffffffn || size < 1n << 40n);
}

function looksLikeText(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x09 || (c > 0x0d && c < 0x20)) return false;
  }
  return true;
}

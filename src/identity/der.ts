/**
 * Minimal DER reader/writer for the issuance hot path only (CSR parsing and leaf TBS encoding).
 * Hand-written because building each leaf through a general ASN.1 object model capped issuance
 * at ~400 SVIDs/s on 2 cores (bench/identity.ts); everything else uses @peculiar/x509.
 */
import { WardenError } from '../errors/index.js';

export interface Tlv {
  tag: number;
  /** Offset of the tag byte in the source buffer. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

function bad(why: string): never {
  throw new WardenError('WARDEN_IDENTITY_CSR_INVALID', `malformed DER: ${why}`);
}

/** Reads one TLV at `offset` (definite lengths only, as DER requires). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) bad('truncated');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) bad('multi-byte tags are not used here');
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) bad('unsupported length');
    if (p + n > limit) bad('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[p + i]!;
    p += n;
    if (len < 0x80) bad('non-minimal length');
  }
  if (p + len > limit) bad('content past end');
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** The children of a constructed TLV. */
export function children(buf: Uint8Array, tlv: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = tlv.contentStart;
  while (p < tlv.end) {
    const c = readTlv(buf, p, tlv.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function lengthBytes(len: number): number[] {
  if (len < 0x80) return [len];
  if (len < 0x100) return [0x81, len];
  if (len < 0x10000) return [0x82, len >> 8, len & 0xff];
  return [0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
}

/** Encodes tag + length + concatenated content. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let len = 0;
  for (const c of content) len += c.length;
  return Buffer.concat([Buffer.from([tag, ...lengthBytes(len)]), ...content]);
}

export const seq = (...c: Uint8Array[]): Buffer => tlv(0x30, ...c);

/** DER INTEGER from unsigned big-endian bytes (adds the sign byte, strips leading zeros). */
export function integer(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = Buffer.from(bytes.subarray(i));
  return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString();
  const y = d.getUTCFullYear();
  const body = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  return y < 2050 ? tlv(0x17, Buffer.from(String(y).slice(2) + body, 'ascii')) : tlv(0x18, Buffer.from(String(y) + body, 'ascii'));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [parts[0]! * 40 + parts[1]!];
  for (const n of parts.slice(2)) {
    const stack = [n & 0x7f];
    let v = n >>> 7;
    while (v > 0) {
      stack.unshift((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

export function bitString(bytes: Uint8Array): Buffer {
  return tlv(0x03, Buffer.from([0]), bytes);
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(0x04, bytes);
}

export const TRUE = Buffer.from([0x01, 0x01, 0xff]);

/** One Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }. */
export function extension(oidDotted: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(oidDotted), TRUE, octetString(value)) : seq(oid(oidDotted), octetString(value));
}

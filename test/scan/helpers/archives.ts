import { crc32 } from 'node:zlib';
import { deflateRawSync } from 'node:zlib';

export interface ZipMember {
  name: string;
  data: Buffer;
  deflate?: boolean;
  /** Declare a wrong uncompressed size (tests size validation). */
  lieUncompressedSize?: number;
  /** Extra general-purpose flag bits (e.g. 0x1 "encrypted"), set in both headers. */
  flags?: number;
}

/** Minimal zip writer (no zip64) for tests that need exact control over members. */
export function zipArchive(members: ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name);
    const body = m.deflate ? deflateRawSync(m.data) : m.data;
    const crc = crc32(m.data);
    const size = m.lieUncompressedSize ?? m.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800 | (m.flags ?? 0), 6);
    local.writeUInt16LE(m.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800 | (m.flags ?? 0), 8);
    central.writeUInt16LE(m.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(members.length, 8);
  eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

export interface TarMember {
  name: string;
  data: Buffer;
  type?: string;
  linkname?: string;
}

/** ustar writer for tests. */
export function tarArchive(members: TarMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const h = Buffer.alloc(512);
    h.write(m.name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(m.data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write(m.type ?? '0', 156);
    if (m.linkname) h.write(m.linkname, 157, 100);
    h.write('ustar\0', 257);
    h.write('00', 263);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    parts.push(h, m.data, Buffer.alloc((512 - (m.data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Rewrites the name in the first local header only (central directory keeps the original). */
export function withLocalName(zip: Buffer, name: string): Buffer {
  const out = Buffer.from(zip);
  const len = out.readUInt16LE(26);
  if (Buffer.byteLength(name) !== len) throw new Error('same-length name required');
  out.write(name, 30, len, 'utf8');
  return out;
}

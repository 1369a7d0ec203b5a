import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atOrAbove } from '../../src/scan/index.js';
import { zipArchive } from './helpers/archives.js';
import { P, scanBytes } from './helpers/scanBytes.js';

/** builtins.eval(<command>): what every attack file below hides. */
const evil = P.cat(P.proto(2), P.global('builtins', 'eval'), P.binunicode("__import__('os').system('id')"), P.op(0x85, 'R', '.'));

/** A .npy file with the given header dict literal and data. */
function npy(header: string, data: Buffer): Buffer {
  let h = header;
  h += ' '.repeat((64 - ((10 + h.length + 1) % 64)) % 64) + '\n';
  const len = Buffer.alloc(2);
  len.writeUInt16LE(h.length);
  return Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), len, Buffer.from(h, 'latin1'), data]);
}

async function highs(bytes: Buffer, name = 'x.bin', limits = {}): Promise<string[]> {
  const r = await scanBytes(bytes, name, limits);
  return r.findings.filter((f) => atOrAbove(f.severity, 'high')).map((f) => `${f.severity} ${f.rule}`).sort();
}

describe('zip listing differentials', () => {
  it('finds members hidden behind a lowered end-record entry count (Python walks the directory by size)', async () => {
    const zip = zipArchive([{ name: 'w.npy', data: npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(8)) }, { name: 'x.pkl', data: evil }]);
    const eocd = zip.length - 22;
    zip.writeUInt16LE(1, eocd + 8);
    zip.writeUInt16LE(1, eocd + 10);
    assert.deepEqual(await highs(zip, 'hidden.npz'), ['critical pickle/dangerous-global', 'high archive/entry-count-mismatch']);
  });
  it('keeps listing past a record flagged with strong encryption (yauzl stops there, PyTorch does not)', async () => {
    const zip = zipArchive([{ name: 'archive/junk', data: Buffer.from('x'), flags: 0x40 }, { name: 'archive/data.pkl', data: evil, deflate: true }]);
    assert.deepEqual(await highs(zip, 'model.pt'), ['critical pickle/dangerous-global', 'high archive/flag-tampering']);
  });
  it('charges the inflate budget with real bytes, so empty members declaring big sizes cannot use it up', async () => {
    const padding = Array.from({ length: 20 }, (_, i) => ({ name: `p${i}.npy`, data: Buffer.alloc(0), deflate: true, lieUncompressedSize: 1000 }));
    const zip = zipArchive([...padding, { name: 'x.pkl', data: evil, deflate: true }]);
    assert.deepEqual(await highs(zip, 'budget.npz', { maxInflatedBytes: 10_000 }), ['critical pickle/dangerous-global']);
  });
  it('ranks running out of the inflate budget high', async () => {
    const zip = zipArchive([{ name: 'a.bin', data: Buffer.alloc(6000, 1), deflate: true }, { name: 'x.pkl', data: evil, deflate: true }]);
    assert.deepEqual(await highs(zip, 'budget.zip', { maxInflatedBytes: 5000 }), ['high scan/limit']);
  });
});

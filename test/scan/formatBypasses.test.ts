import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atOrAbove } from '../../src/scan/index.js';
import { tarArchive, zipArchive } from './helpers/archives.js';
import { savedModel } from './helpers/writers.js';
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

describe('format-confusion polyglots', () => {
  const tarHeaderChecksum = (h: Buffer): void => {
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i]!;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  };
  it('scans a pickle that carries "ustar" at byte 257 as the pickle it is (short of a tar block)', async () => {
    const p = P.cat(P.proto(2), evil.subarray(2, -1), P.op('0'));
    const pad = 257 - p.length - 2;
    const poly = P.cat(p, P.op('C', pad + 5), Buffer.alloc(pad, 'A'), Buffer.from('ustar'), P.op('0', 'N', '.'));
    assert.deepEqual(await highs(poly, 'tar_poly.pkl'), ['critical pickle/dangerous-global', 'high archive/malformed']);
    const big = P.cat(poly.subarray(0, -1), P.op('0'), Buffer.alloc(300, 'N'), P.op('.')); // a full 512-byte block, bad checksum
    assert.deepEqual(await highs(big, 'tar_poly_big.pkl'), ['critical pickle/dangerous-global', 'high archive/malformed']);
  });
  it('runs a valid tar header whose name field is a pickle through the pickle scanner too', async () => {
    const tar = tarArchive([{ name: 'x', data: Buffer.from('hello') }]);
    const header = tar.subarray(0, 512);
    header.fill(0, 0, 100);
    evil.copy(header, 0);
    tarHeaderChecksum(header);
    assert.deepEqual(await highs(tar, 'model.pt'), ['critical pickle/dangerous-global', 'high format/polyglot']);
  });
  it('parses big-endian GGUF instead of waving it through, and scans a GGUF/pickle polyglot as a pickle', async () => {
    const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
    const u64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
    const str = (s: string): Buffer => P.cat(u64(s.length), Buffer.from(s));
    const be = P.cat(Buffer.from('GGUF'), u32(3), u64(0), u64(1), str('general.name'), u32(8), str('model'));
    const ok = await scanBytes(be, 'model.gguf');
    assert.deepEqual([ok.format, ok.findings], ['gguf', []]);
    const poly = P.cat(Buffer.from('GGUF'), u32(3), P.op(0, '0'), evil.subarray(2));
    assert.deepEqual(await highs(poly, 'gguf_poly.pt'), ['critical pickle/dangerous-global', 'high format/polyglot', 'high gguf/invalid']);
  });
});

describe('.npy headers read the way np.load reads them', () => {
  it('finds object arrays spelled "object" or hidden behind a duplicate descr key (the last key wins)', async () => {
    const word = npy("{'descr': 'object', 'fortran_order': False, 'shape': (1,), }", evil);
    assert.deepEqual(await highs(word, 'obj_word.npy'), ['critical pickle/dangerous-global']);
    const dup = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'descr': '|O', }", evil);
    assert.deepEqual(await highs(dup, 'obj_dupkey.npy'), ['critical pickle/dangerous-global']);
    const structured = npy("{'descr': [('a', '<f4'), ('b', '|O')], 'fortran_order': False, 'shape': (1,), }", evil);
    assert.deepEqual(await highs(structured, 's.npy'), ['critical pickle/dangerous-global']);
  });
  it('ranks dtypes and headers it cannot read high and scans their data as a pickle', async () => {
    const odd = npy("{'descr': 'Q9x', 'fortran_order': False, 'shape': (1,), }", evil);
    assert.deepEqual(await highs(odd), ['critical pickle/dangerous-global', 'high numpy/unsupported-dtype']);
    const concat = npy("{'descr': '|' 'O', 'fortran_order': False, 'shape': (1,), }", evil);
    assert.deepEqual(await highs(concat), ['critical pickle/dangerous-global', 'high numpy/invalid']);
  });
  it('keeps plain arrays clean, with type codes sized by their real item size', async () => {
    for (const [descr, width] of [['<f8', 8], ['d', 8], ['|b1', 1], ['<U3', 12], ['<M8[ns]', 8], ['?', 1]] as const) {
      const r = await scanBytes(npy(`{'descr': '${descr}', 'fortran_order': False, 'shape': (2, 3), }`, Buffer.alloc(6 * width)));
      assert.deepEqual(r.findings, [], descr);
    }
    const structured = await scanBytes(npy("{'descr': [('x', '<f4'), ('y', '<i8', (2,))], 'fortran_order': False, 'shape': (2,), }", Buffer.alloc(40)));
    assert.deepEqual(structured.findings, []);
  });
});

describe('SavedModel ops that write files', () => {
  it('ranks dataset and summary writers high and lists checkpoint writers', async () => {
    const r = await scanBytes(savedModel(['Const', 'SaveV2', 'MergeV2Checkpoints'], ['DatasetToTFRecord']), 'saved_model.pb');
    assert.deepEqual(r.findings.map((f) => `${f.severity} ${f.message.split(' (')[0]}`).sort(), ['high graph uses DatasetToTFRecord', 'low graph uses MergeV2Checkpoints', 'low graph uses SaveV2']);
  });
});

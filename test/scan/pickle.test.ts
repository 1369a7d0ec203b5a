import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readerFromSource } from '../../src/scan/io/ByteReader.js';
import { BufferSource } from '../../src/scan/io/RandomSource.js';
import { scanPickleStream } from '../../src/scan/pickle/scanPickle.js';
import { ScanContext } from '../../src/scan/ScanContext.js';
import { classifyGlobal, defaultScanLimits, type Finding } from '../../src/scan/index.js';
import { P, scanBytes } from './helpers/scanBytes.js';

const STOP = P.op('.');
const REDUCE = P.op('R');
const TUPLE1 = P.op(0x85);
const STACK_GLOBAL = P.op(0x93);
const MEMOIZE = P.op(0x94);

async function pickleFindings(bytes: Buffer, options = {}): Promise<{ findings: Finding[]; pickles: number; complete: boolean }> {
  const findings: Finding[] = [];
  const ctx = new ScanContext(defaultScanLimits, findings);
  const res = await scanPickleStream(readerFromSource(new BufferSource(bytes)), ctx, options);
  return { findings, pickles: res.pickles, complete: res.complete };
}

describe('classifyGlobal (allowlist first, denylist for critical)', () => {
  it('allows what real checkpoints import', () => {
    for (const [m, n] of [['torch._utils', '_rebuild_tensor_v2'], ['collections', 'OrderedDict'], ['torch', 'FloatStorage'], ['numpy.core.multiarray', '_reconstruct'], ['numpy', 'dtype'], ['_codecs', 'encode'], ['builtins', 'set']]) {
      assert.equal(classifyGlobal(m!, n!).severity, null, `${m}.${n}`);
    }
  });
  it('ranks command/code execution critical, including the py2 and platform aliases', () => {
    for (const [m, n] of [['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['subprocess', 'Popen'], ['builtins', 'eval'], ['builtins', 'getattr'], ['__builtin__', '__import__'], ['runpy', '_run_code'], ['pty', 'spawn'], ['socket', 'socket'], ['webbrowser', 'open'], ['numpy.testing._private.utils', 'runstring'], ['torch.hub', 'load'], ['dill._dill', '_create_code']]) {
      assert.equal(classifyGlobal(m!, n!).severity, 'critical', `${m}.${n}`);
    }
  });
  it('closes denylist gaps: any other stdlib callable is high, unknown third-party is medium', () => {
    assert.equal(classifyGlobal('doctest', 'debug_script').severity, 'high');
    assert.equal(classifyGlobal('idlelib.pyshell', 'ModifiedInterpreter').severity, 'high');
    assert.equal(classifyGlobal('builtins', 'print').severity, 'high');
    assert.equal(classifyGlobal('sklearn.linear_model._logistic', 'LogisticRegression').severity, 'medium');
    assert.equal(classifyGlobal('__main__', 'Net').severity, 'medium');
    assert.equal(classifyGlobal('somepkg.util', 'spawn_worker').severity, 'high');
    assert.equal(classifyGlobal('torch.nn.modules.linear', 'Linear').severity, 'low');
  });
});

describe('pickle VM simulation', () => {
  it('resolves STACK_GLOBAL names fetched back from the memo', async () => {
    const bytes = P.cat(P.proto(4), P.su('o' + 's'), MEMOIZE, P.op('0'), P.su('system'), MEMOIZE, P.op('0'), P.op('h', 0, 'h', 1), STACK_GLOBAL, P.su('id'), TUPLE1, REDUCE, STOP);
    const { findings } = await pickleFindings(bytes);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.severity, 'critical');
    assert.match(findings[0]!.message, /STACK_GLOBAL imports os\.system/);
    assert.equal(findings[0]!.location, `@${bytes.indexOf(0x93)}`);
  });

  it('reports a callable once per stream with a count', async () => {
    const call = P.cat(P.global('os', 'system'), P.binunicode('id'), TUPLE1, REDUCE);
    const bytes = P.cat(P.proto(2), P.op(']', '('), call, call, call, P.op('e'), STOP);
    const { findings } = await pickleFindings(bytes);
    assert.equal(findings.length, 1);
    assert.match(findings[0]!.message, /\(3 times\)$/);
  });

  it('treats a call on something that is not an import as dynamic', async () => {
    // REDUCE on the result of OrderedDict() -> not a plain import
    const bytes = P.cat(P.proto(2), P.global('collections', 'OrderedDict'), P.op(')'), REDUCE, P.op(')'), REDUCE, STOP);
    const { findings } = await pickleFindings(bytes);
    assert.deepEqual(findings.map((f) => [f.rule, f.severity]), [['pickle/dynamic-call', 'high']]);
  });

  it('reports malformed streams but keeps what ran before the error', async () => {
    const r1 = await pickleFindings(P.cat(P.proto(2), P.global('os', 'system'), P.op('a')));
    assert.deepEqual(r1.findings.map((f) => f.rule).sort(), ['pickle/dangerous-global', 'pickle/malformed']);
    assert.equal(r1.complete, false);
    const r2 = await pickleFindings(P.proto(9));
    assert.match(r2.findings[0]!.message, /unsupported protocol 9/);
    const r3 = await pickleFindings(P.cat(P.proto(2), P.op('h', 7), STOP));
    assert.match(r3.findings[0]!.message, /memo key 7 not found/);
    const r4 = await pickleFindings(P.cat(P.proto(4), P.op('1')));
    assert.match(r4.findings[0]!.message, /MARK expected/);
  });

  it('reports truncation, including huge declared lengths, without allocating them', async () => {
    const huge = Buffer.alloc(9);
    huge[0] = 0x8e; // BINBYTES8
    huge.writeBigUInt64LE(1n << 50n, 1);
    const r = await pickleFindings(P.cat(P.proto(4), huge, STOP));
    assert.deepEqual(r.findings.map((f) => f.rule), ['pickle/truncated']);
    const r2 = await pickleFindings(P.cat(P.proto(2), P.op('X', 0xff, 0xff, 0xff, 0x7f), Buffer.from('abc')));
    assert.deepEqual(r2.findings.map((f) => f.rule), ['pickle/truncated']);
    const r3 = await pickleFindings(P.cat(P.proto(2), P.op('X', 0xff, 0xff, 0xff, 0x7f)));
    assert.deepEqual(r3.findings.map((f) => f.rule), ['pickle/truncated']);
  });

  it('scans every pickle in a stream and flags opcodes after STOP', async () => {
    const benign = P.cat(P.proto(2), P.op('}'), STOP);
    const evil = P.cat(P.proto(2), P.global('subprocess', 'call'), P.binunicode('id'), TUPLE1, REDUCE, STOP);
    const r = await pickleFindings(P.cat(benign, benign, evil));
    assert.equal(r.pickles, 3);
    assert.ok(r.findings.some((f) => f.rule === 'pickle/dangerous-global' && f.severity === 'critical'));
    const multi = r.findings.filter((f) => f.rule === 'pickle/multiple-pickles');
    assert.equal(multi.length, 1);
    assert.match(multi[0]!.message, /\(2 times\)$/);
    const single = await pickleFindings(P.cat(benign, evil), { single: true });
    assert.deepEqual(single.findings.map((f) => f.rule), ['pickle/trailing-data']);
    const garbage = await pickleFindings(P.cat(benign, Buffer.from([0x00, 0x01, 0xfe])));
    assert.deepEqual(garbage.findings.map((f) => f.rule), ['pickle/trailing-data']);
  });

  it('recognises legacy torch.save streams (magic number pickle) and skips their storage bytes', async () => {
    const magic = P.cat(P.proto(2), P.op(0x8a, 10), Buffer.from('6c fc 9c 46 f9 20 6a a8 50 19'.split(' ').map((h) => parseInt(h, 16))), STOP);
    const small = P.cat(P.proto(2), P.op('K', 1), STOP);
    const storages = Buffer.from('not a pickle at all \x00\x01\x02', 'latin1');
    const r = await pickleFindings(P.cat(magic, small, small, small, small, storages));
    assert.equal(r.pickles, 5);
    assert.deepEqual(r.findings, []);
  });

  it('parses protocol-0 text arguments (quoted STRING escapes, INT/LONG, PUT/GET)', async () => {
    const bytes = Buffer.from("(S'o\\x73'\np0\nS'sys\\164em'\np1\nI01\nL12L\nF1.5\ntp2\n0g0\ng1\n\x93(S'id'\ntR.", 'latin1');
    const { findings } = await pickleFindings(bytes);
    assert.match(findings[0]!.message, /imports os\.system/);
  });

  it('does not confuse text files or random bytes with pickles', async () => {
    assert.equal((await scanBytes(Buffer.from('hello world, this is a README\n'), 'README')).format, 'unknown');
    assert.equal((await scanBytes(Buffer.from('little'), 'byteorder')).format, 'unknown');
    assert.equal((await scanBytes(Buffer.from("(dp0\nS'a'\np1\nI1\ns."), 'x')).format, 'pickle');
  });

  it('reports content that fails to parse when the extension only ever holds pickles', async () => {
    const r = await scanBytes(Buffer.from('\x00\x01garbage'), 'model.pkl');
    assert.equal(r.format, 'pickle');
    assert.deepEqual(r.rules, ['pickle/malformed']);
  });
});

describe('pickle sniffing without a PROTO header', () => {
  it('treats a protocol-0 import followed by garbage as a pickle, whatever the extension', async () => {
    const r = await scanBytes(Buffer.from("cos\nsystem\n(S'id'\ntR\xff\xfe garbage", 'latin1'), 'model.bin');
    assert.equal(r.format, 'pickle');
    assert.deepEqual(r.rules.sort(), ['pickle/dangerous-global', 'pickle/malformed']);
  });
});

describe('TorchScript archives', () => {
  it('accepts the globals torch.jit.save writes', () => {
    assert.equal(classifyGlobal('torch.jit._pickle', 'build_intlist').severity, null);
    assert.equal(classifyGlobal('torch.jit._pickle', 'restore_type_tag').severity, null);
    assert.equal(classifyGlobal('__torch__.models.Net', 'Net').severity, 'low');
    assert.equal(classifyGlobal('torch.jit', 'load').severity, 'critical');
  });
});

describe('dotted names (protocol 4 attribute paths)', () => {
  it('catches attribute walks from allowlisted-looking modules', () => {
    assert.equal(classifyGlobal('torch.serialization', 'pickle.loads').severity, 'critical');
    assert.equal(classifyGlobal('torch._utils', '_rebuild_tensor.__globals__').severity, 'critical');
    assert.equal(classifyGlobal('collections', 'OrderedDict.fromkeys').severity, 'high');
    assert.equal(classifyGlobal('mypkg', 'helper.run').severity, 'high');
    assert.equal(classifyGlobal('mypkg.models', 'Outer.Inner').severity, 'medium');
  });
});

describe('Python 2 names rewritten by fix_imports', () => {
  it('classifies what Python actually imports', () => {
    assert.equal(classifyGlobal('__builtin__', 'reduce').severity, 'high'); // functools.reduce
    assert.equal(classifyGlobal('commands', 'getoutput').severity, 'critical'); // subprocess.getoutput
    assert.match(classifyGlobal('__builtin__', 'intern').reason, /imported as sys\.intern/);
    assert.equal(classifyGlobal('__builtin__', 'unicode').severity, null); // builtins.str
    assert.equal(classifyGlobal('copy_reg', '_reconstructor').severity, null);
  });
});

describe('as lenient as Python where Python is lenient (no early stop an attacker can trigger)', () => {
  const tail = "cos\nsystem\n(S'id'\ntR.";
  it('accepts Python int()/float() spellings in protocol-0 arguments', async () => {
    for (const arg of ['I0x10\n', 'I1_000\n', 'I -7 \n', 'L0b101L\n', 'F1_0.5\n', 'Finfinity\n', 'F-nan\n']) {
      const { findings } = await pickleFindings(Buffer.from(`(${arg}${tail}`, 'latin1'));
      assert.ok(findings.some((f) => f.rule === 'pickle/dangerous-global'), `${JSON.stringify(arg)}: ${JSON.stringify(findings)}`);
    }
  });
  it('skips over-long text arguments instead of giving up', async () => {
    const long = `(S'${'a'.repeat(2 * 1024 * 1024)}'\n${tail}`;
    const { findings, complete } = await pickleFindings(Buffer.from(long, 'latin1'));
    assert.equal(complete, true);
    assert.deepEqual(findings.map((f) => f.rule), ['pickle/dangerous-global']);
    const longName = await pickleFindings(Buffer.from(`c${'m'.repeat(2 * 1024 * 1024)}\nsystem\n)R.`, 'latin1'));
    assert.ok(longName.findings.some((f) => f.rule === 'pickle/unresolved-global'));
  });
});

describe('stream limits', () => {
  it('ranks hitting the pickles-per-stream limit high: a payload could sit behind it', async () => {
    const one = P.cat(P.proto(2), P.op('N', '.'));
    const evil = P.cat(P.proto(2), P.global('os', 'system'), P.binunicode('id'), P.op(0x85, 'R', '.'));
    const findings: Finding[] = [];
    const ctx = new ScanContext({ ...defaultScanLimits, maxPicklesPerStream: 3 }, findings);
    await scanPickleStream(readerFromSource(new BufferSource(P.cat(one, one, one, evil))), ctx);
    assert.ok(findings.some((f) => f.rule === 'scan/limit' && f.severity === 'high'), JSON.stringify(findings));
  });
});

describe('joblib inline arrays', () => {
  it('ranks a wrapper it cannot size high, since the rest of the stream goes unscanned', async () => {
    const bytes = P.cat(P.proto(4), P.su('joblib.numpy_pickle'), P.su('NumpyArrayWrapper'), P.op(0x93, ')', 0x81, '}'), P.su('shape'), P.su('not a shape'), P.op('s', 'b', '.'));
    const { findings } = await pickleFindings(bytes);
    assert.deepEqual(findings.map((f) => `${f.severity} ${f.rule}`).sort(), ['high pickle/joblib-unparsed', 'high pickle/malformed']);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atOrAbove, type Finding } from '../../src/scan/index.js';
import { zipArchive } from './helpers/archives.js';
import { P, scanBytes } from './helpers/scanBytes.js';

// Attack files from the adversarial scanner review, rebuilt byte for byte with the opcodes
// CPython's unpickler executes (a run of `pickle.loads` / `joblib.load` on them runs the payload).

const cmd = "__import__('os').system('touch /tmp/warden-scan-pwned')";
const su = P.su;
/** SHORT_BINBYTES */
const sb = (s: string): Buffer => P.cat(P.op('C', Buffer.byteLength(s)), Buffer.from(s));
/** builtins.eval(cmd): the blatant payload hidden behind each differential. */
const EVAL = P.cat(P.global('builtins', 'eval'), P.binunicode(cmd), P.op(0x85, 'R'));

function sev(findings: Finding[], min: 'critical' | 'high' = 'high'): string[] {
  return findings.filter((f) => atOrAbove(f.severity, min)).map((f) => `${f.severity} ${f.rule}`).sort();
}

async function worstOf(bytes: Buffer, name = 'model.pkl'): Promise<string> {
  const { findings } = await scanBytes(bytes, name);
  for (const s of ['critical', 'high', 'medium', 'low', 'info'] as const) if (findings.some((f) => f.severity === s)) return s;
  return 'none';
}

describe('review finding 1: _ufunc_reconstruct import gadget and __setstate__ planted by BUILD', () => {
  // SimpleNamespace(); BUILD {'__setstate__': _ufunc_reconstruct('numpy.f2py.crackfortran', 'myeval')};
  // BUILD cmd -> Python's load_build finds __setstate__ on the instance and calls myeval(cmd).
  const attack = P.cat(
    P.proto(2), P.global('types', 'SimpleNamespace'), P.op(')', 'R', '}'), su('__setstate__'),
    P.global('numpy.core', '_ufunc_reconstruct'), su('numpy.f2py.crackfortran'), su('myeval'), P.op(0x86, 'R', 's', 'b'),
    su(cmd), P.op('b', '.'),
  );

  it('ranks the plain pickle critical (dunder BUILD state) and the non-ufunc import high', async () => {
    const { findings } = await scanBytes(attack, 'b1.pkl');
    assert.deepEqual(sev(findings), ['critical pickle/dunder-state', 'high pickle/dangerous-global'], JSON.stringify(findings));
    assert.ok(findings.some((f) => /_ufunc_reconstruct imports numpy\.f2py\.crackfortran\.myeval/.test(f.message)));
  });

  it('ranks the same payload inside a PyTorch zip critical', async () => {
    const zip = zipArchive([{ name: 'archive/data.pkl', data: attack }, { name: 'archive/version', data: Buffer.from('3\n') }]);
    assert.equal(await worstOf(zip, 'ufunc_setstate.pt'), 'critical');
  });

  it('accepts only real ufuncs from numpy modules', async () => {
    const ufunc = (mod: string, name: string): Buffer =>
      P.cat(P.proto(2), P.global('numpy.core', '_ufunc_reconstruct'), su(mod), su(name), P.op(0x86, 'R', '.'));
    for (const [m, n] of [['numpy.core.umath', 'log1p'], ['numpy._core.umath', 'add'], ['numpy', 'sqrt']]) {
      assert.deepEqual((await scanBytes(ufunc(m!, n!))).findings, [], `${m}.${n}`);
    }
    for (const [m, n] of [['numpy', 'load'], ['numpy.lib.npyio', 'DataSource'], ['numpy', 'memmap'], ['scipy.special', 'whatever'], ['numpy.core.umath', 'not_a_ufunc']]) {
      assert.ok(atOrAbove(await worstOf(ufunc(m!, n!)) as 'high', 'high'), `${m}.${n}`);
    }
  });

  it('ranks any dunder key in a BUILD state critical: dict state, slot state, mapping built by a call, past the tracking cap', async () => {
    const ns = P.cat(P.proto(2), P.global('types', 'SimpleNamespace'), P.op(')', 'R'));
    const slot = P.cat(ns, P.op('N', '}'), su('__class__'), P.global('mypkg', 'Other'), P.op('s', 0x86, 'b', '.'));
    const ordered = P.cat(ns, P.global('collections', 'OrderedDict'), P.op(')', 'R', '('), su('__setstate__'), P.global('mypkg', 'thing'), P.op('u', 'b', '.'));
    const many: Buffer[] = [];
    for (let i = 0; i < 70; i++) many.push(su(`k${i}`), P.op('K', 1));
    const wide = P.cat(ns, P.op('}', '('), ...many, su('__setstate__'), P.global('mypkg', 'thing'), P.op('u', 'b', '.'));
    const viaDict = P.cat(ns, P.global('builtins', 'dict'), P.op(']'), su('__setstate__'), P.op('K', 1, 0x86, 'a', 0x85, 'R', 'b', '.'));
    for (const [name, b] of [['slot', slot], ['ordered', ordered], ['wide', wide], ['dict()', viaDict]] as const) {
      const { findings } = await scanBytes(b);
      assert.ok(findings.some((f) => f.rule === 'pickle/dunder-state' && f.severity === 'critical'), `${name}: ${JSON.stringify(findings)}`);
    }
  });
});

describe('review finding 3: joblib inline array sized by a complete numpy itemsize table', () => {
  /** joblib NumpyArrayWrapper (as joblib writes it) for one array of `descr`, followed by `after`. */
  const wrapper = (descr: string, shape: number[], opts: { align?: boolean; dtypeState?: Buffer; extraState?: Buffer } = {}): Buffer =>
    P.cat(
      P.proto(4), P.op('}'), su('w'), P.global('joblib.numpy_pickle', 'NumpyArrayWrapper'), P.op(')', 0x81, '}', '('),
      su('subclass'), P.global('numpy', 'ndarray'), su('shape'), P.op('('), ...shape.map((d) => P.op('K', d)), P.op('t'),
      su('order'), su('C'), su('dtype'), P.global('numpy', 'dtype'), su(descr), P.op(0x89, 0x88, 0x87, 'R'),
      opts.dtypeState ?? P.cat(P.op('(', 'K', 3), su('<'), P.op('N', 'N', 'N', 'J', 0xff, 0xff, 0xff, 0xff, 'J', 0xff, 0xff, 0xff, 0xff, 'K', 0, 't')), P.op('b'),
      opts.extraState ?? Buffer.alloc(0),
      su('allow_mmap'), P.op(0x88), ...(opts.align ? [su('numpy_array_alignment_bytes'), P.op('K', 16)] : []), P.op('u', 'b'),
    );

  /** `total` array bytes; a scanner that sizes them as `wrongSize` reads a BINBYTES header there that swallows EVAL. */
  const hidingRegion = (wrongSize: number, total: number): Buffer => {
    const region = Buffer.alloc(total);
    region[wrongSize] = 0x42; // BINBYTES
    region.writeUInt32LE(total - wrongSize - 5 + EVAL.length, wrongSize + 1);
    return region;
  };

  it('skips 8 bytes per float64 element (dtype "d"), so the payload after them is parsed as joblib parses it', async () => {
    // The review's diff.joblib: a 1-element 'd' array whose 8 data bytes look like a BINBYTES
    // header; sized as 1 byte, the scanner read the payload as that BINBYTES body.
    const file = P.cat(wrapper('d', [1]), hidingRegion(1, 8), EVAL, P.op('0', 's', '.'));
    const { findings } = await scanBytes(file, 'diff.joblib');
    assert.ok(findings.some((f) => f.severity === 'critical' && /builtins\.eval/.test(f.message)), JSON.stringify(findings));
  });

  it('sizes every platform-independent type code and explicit size like numpy does', async () => {
    for (const [descr, width] of [['?', 1], ['b', 1], ['h', 2], ['H', 2], ['i', 4], ['I', 4], ['q', 8], ['Q', 8], ['e', 2], ['f', 4], ['d', 8], ['F', 8], ['D', 16], ['M8', 8], ['m8[ns]', 8], ['<f8', 8], ['u2', 2], ['c16', 16], ['b1', 1]] as const) {
      const file = P.cat(wrapper(descr, [3]), Buffer.alloc(3 * width, 0xff), P.op('s'), su('x'), EVAL, P.op('s', '.'));
      const { findings } = await scanBytes(file, 'a.joblib');
      assert.deepEqual(sev(findings), ['critical pickle/dangerous-global'], `${descr}: ${JSON.stringify(findings)}`);
    }
  });

  it('takes flexible sizes (S/U/V) from the dtype state, as numpy does', async () => {
    const st = (elsize: number): Buffer => P.cat(P.op('(', 'K', 3), su('|'), P.op('N', 'N', 'N', 'K', elsize, 'K', 1, 'K', 8, 't'));
    const file = P.cat(wrapper('U2', [2], { dtypeState: st(12) }), Buffer.alloc(24, 0), P.op('s'), su('x'), EVAL, P.op('s', '.'));
    assert.deepEqual(sev((await scanBytes(file, 'u.joblib')).findings), ['critical pickle/dangerous-global']);
  });

  it('stops with high when the size is not certain (platform-dependent, structured, object flags, odd descr, truncated state)', async () => {
    const flagsObj = P.cat(P.op('(', 'K', 3), su('|'), P.op('N', 'N', 'N', 'K', 8, 'K', 1, 'K', 1, 't'));
    const structured = P.cat(P.op('(', 'K', 3), su('|'), P.op('N'), su('a'), P.op(0x85, '}', 'K', 8, 'K', 1, 'K', 0, 't'));
    const many: Buffer[] = [];
    for (let i = 0; i < 70; i++) many.push(su(`k${i}`), P.op('N'));
    const cases: [string, Buffer][] = [
      ['l (C long)', wrapper('l', [1])], ['g (long double)', wrapper('g', [1])], ['p (intp)', wrapper('p', [1])],
      ['V with object flag', wrapper('V8', [1], { dtypeState: flagsObj })], ['structured', wrapper('V8', [1], { dtypeState: structured })],
      ['i3', wrapper('i3', [1])], ['S0', wrapper('S', [1], { dtypeState: P.op('N') })], ['state past the cap', wrapper('f8', [1], { extraState: P.cat(...many) })],
    ];
    for (const [name, head] of cases) {
      const { findings } = await scanBytes(P.cat(head, Buffer.alloc(64), P.op('s', '.')), 'x.joblib');
      assert.ok(findings.some((f) => f.rule === 'pickle/joblib-unparsed' && f.severity === 'high'), `${name}: ${JSON.stringify(findings)}`);
    }
  });

  it('uses the last of two dtype keys (Python dict semantics) and wrappers made by copyreg._reconstructor', async () => {
    // 8 elements: 8 bytes as u1 (first key), 64 as f8 (the key Python keeps). Sized by the first,
    // the BINBYTES header at byte 8 would swallow the payload.
    const dup = P.cat(wrapper('u1', [8], { extraState: P.cat(su('dtype'), P.global('numpy', 'dtype'), su('f8'), P.op(0x89, 0x88, 0x87, 'R')) }), hidingRegion(8, 64), EVAL, P.op('0', 's', '.'));
    assert.deepEqual(sev((await scanBytes(dup, 'dup.joblib')).findings), ['critical pickle/dangerous-global']);
    const viaCopyreg = P.cat(
      P.proto(2), P.op('}'), su('w'), P.global('copyreg', '_reconstructor'), P.global('joblib.numpy_pickle', 'NumpyArrayWrapper'), P.global('builtins', 'object'), P.op('N', 0x87, 'R', '}', '('),
      su('shape'), P.op('K', 2, 0x85), su('dtype'), P.global('numpy', 'dtype'), su('f4'), P.op(0x89, 0x88, 0x87, 'R'), su('order'), su('C'), P.op('u', 'b'),
      Buffer.from([0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e]), P.op('s'), su('x'), EVAL, P.op('s', '.'),
    );
    assert.deepEqual(sev((await scanBytes(viaCopyreg, 'c.joblib')).findings), ['critical pickle/dangerous-global']);
  });
});

describe('joblib array bytes read by plain pickle.load', () => {
  it('reports a payload hidden in array data that pickle.load (not joblib) runs as opcodes', async () => {
    const head = P.cat(
      P.proto(2), P.op('}'), su('w'), P.global('joblib.numpy_pickle', 'NumpyArrayWrapper'), P.op(')', 0x81, '}', '('),
      su('shape'), P.op('K', EVAL.length + 1, 0x85), su('dtype'), P.global('numpy', 'dtype'), su('u1'), P.op(0x89, 0x88, 0x87, 'R'), su('order'), su('C'), P.op('u', 'b'),
    );
    const file = P.cat(head, EVAL, P.op('.'), P.op('s', '.'));
    assert.deepEqual(sev((await scanBytes(file, 'x.pkl')).findings), ['critical pickle/dangerous-global']);
  });
});

describe('review finding 7: third-party gadgets nobody listed', () => {
  it('treats bytes arguments like str (eval accepts bytes)', async () => {
    const b = P.cat(P.proto(2), P.global('asdf.helpers', 'do_stuff'), sb(cmd), P.op(0x85, 'R', '.'));
    assert.deepEqual(sev((await scanBytes(b)).findings), ['high pickle/unknown-call-with-string']);
    const myeval = P.cat(P.proto(2), P.global('numpy.f2py.crackfortran', 'myeval'), sb(cmd), P.op(0x85, 'R', '.'));
    assert.equal(await worstOf(myeval), 'high');
  });

  it('matches dangerous names anywhere in a function name, at word starts in a class name', async () => {
    for (const [m, n] of [['numpy.f2py.crackfortran', 'myeval'], ['somepkg.tools', '_exec_with_source'], ['somepkg', 'safe_system_call'], ['somepkg', 'RemoteExecutor']]) {
      const imp = P.cat(P.proto(2), P.global(m!, n!), P.op('.'));
      assert.equal(await worstOf(imp), 'high', `${m}.${n}`);
    }
  });

  it('checks NEWOBJ, NEWOBJ_EX, OBJ and INST calls, not only REDUCE', async () => {
    const memmap = P.cat(P.proto(2), P.global('numpy', 'memmap'), P.op('('), su('/tmp/warden-scan-pwned'), P.global('numpy', 'uint8'), su('w+'), P.op('K', 0, 'K', 16, 0x85, 't', 0x81, '.'));
    assert.deepEqual(sev((await scanBytes(memmap)).findings), ['high pickle/dangerous-global']);
    const newobj = P.cat(P.proto(2), P.global('asdf.helpers', 'do_stuff'), su(cmd), P.op(0x85, 0x81, '.'));
    const newobjEx = P.cat(P.proto(4), P.global('asdf.helpers', 'do_stuff'), P.op(')', '}'), su('code'), sb(cmd), P.op('s', 0x92, '.'));
    const obj = P.cat(P.proto(1), P.op('('), P.global('asdf.helpers', 'do_stuff'), su(cmd), P.op('o', '.'));
    const inst = Buffer.from(`(S'${cmd.replace(/'/g, "\\'")}'\niasdf.helpers\ndo_stuff\n.`, 'latin1');
    for (const [name, b] of [['NEWOBJ', newobj], ['NEWOBJ_EX', newobjEx], ['OBJ', obj], ['INST', inst]] as const) {
      assert.deepEqual(sev((await scanBytes(b)).findings), ['high pickle/unknown-call-with-string'], name);
    }
  });

  it('ranks any unknown function that is called high (fail closed), classes and class-taking reconstructors medium', async () => {
    const fn = P.cat(P.proto(2), P.global('asdf.helpers', 'do_stuff'), P.op('K', 3, 0x85, 'R', '.'));
    assert.deepEqual(sev((await scanBytes(fn)).findings), ['high pickle/unknown-call']);
    const viaCodecs = P.cat(P.proto(2), P.global('asdf.helpers', 'do_stuff'), P.global('_codecs', 'encode'), su(cmd), su('latin1'), P.op(0x86, 'R', 0x85, 'R', '.'));
    assert.deepEqual(sev((await scanBytes(viaCodecs)).findings), ['high pickle/unknown-call']);
    const medium = [
      P.cat(P.proto(2), P.global('mypkg.colors', 'Color'), su('red'), P.op(0x85, 'R', '.')),
      P.cat(P.proto(2), P.global('sklearn.neighbors._kd_tree', 'newObj'), P.global('sklearn.neighbors._kd_tree', 'KDTree'), P.op(0x85, 'R', '.')),
      P.cat(P.proto(2), P.global('sklearn._loss._loss', '__pyx_unpickle_CyHalfSquaredError'), P.global('sklearn._loss._loss', 'CyHalfSquaredError'), P.op('J', 1, 2, 3, 4, 'N', 0x87, 'R', '.')),
      P.cat(P.proto(2), P.global('pandas._libs.internals', '_unpickle_block'), P.op('N', 'K', 1, 'K', 2, 0x87, 'R', '.')),
    ];
    for (const b of medium) assert.equal(await worstOf(b), 'medium', b.toString('latin1'));
  });
});

describe('review finding 6 (pickle part): unparsed pickles fail closed', () => {
  it('ranks truncated and malformed streams high', async () => {
    const truncated = P.cat(P.proto(2), P.op('}'), su('a'));
    const malformed = P.cat(P.proto(2), P.op('}', 0xff, '.'));
    const rawLzma = Buffer.from([0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x3d, 0x88]);
    for (const [name, b, rule] of [['truncated', truncated, 'pickle/truncated'], ['malformed', malformed, 'pickle/malformed'], ['raw lzma named .joblib', rawLzma, 'archive/unsupported-compression']] as const) {
      const { findings } = await scanBytes(b, 'model.joblib');
      assert.ok(findings.some((f) => f.rule === rule && f.severity === 'high'), `${name}: ${JSON.stringify(findings)}`);
    }
  });
});

describe('benign sklearn/joblib-like pickles stay at medium or below', () => {
  it('a joblib-written LogisticRegression with inline arrays, RandomState, a KD-tree and a Cython loss', async () => {
    const arr = (descr: string, shape: number[], width: number): Buffer =>
      P.cat(
        P.su('joblib.numpy_pickle'), P.su('NumpyArrayWrapper'), P.op(0x93, ')', 0x81, '}', '('),
        su('subclass'), su('numpy'), su('ndarray'), P.op(0x93), su('shape'), P.op('('), ...shape.map((d) => P.op('K', d)), P.op('t'),
        su('order'), su('C'), su('dtype'), su('numpy'), su('dtype'), P.op(0x93), su(descr), P.op(0x89, 0x88, 0x87, 'R', '(', 'K', 3), su('<'),
        P.op('N', 'N', 'N', 'J', 0xff, 0xff, 0xff, 0xff, 'J', 0xff, 0xff, 0xff, 0xff, 'K', 0, 't', 'b'),
        su('allow_mmap'), P.op(0x88), su('numpy_array_alignment_bytes'), P.op('K', 16, 'u', 'b'),
        P.op(5), Buffer.alloc(5, 0xff), Buffer.alloc(shape.reduce((a, d) => a * d, 1) * width, 0x63),
      );
    const est = P.cat(
      P.proto(4), P.su('sklearn.linear_model._logistic'), P.su('LogisticRegression'), P.op(0x93, ')', 0x81, '}', '('),
      su('penalty'), su('l2'), su('dual'), P.op(0x89), su('tol'), P.op('G'), Buffer.alloc(8), su('C'), P.op('G'), Buffer.alloc(8),
      su('solver'), su('lbfgs'), su('multi_class'), su('deprecated'), su('n_features_in_'), P.op('K', 4),
      su('classes_'), arr('i8', [2], 8), su('coef_'), arr('f8', [1, 4], 8), su('intercept_'), arr('f8', [1], 8), su('n_iter_'), arr('i4', [1], 4),
      su('random_state'), P.su('numpy.random._pickle'), P.su('__randomstate_ctor'), P.op(0x93), su('MT19937'), P.su('numpy.random._pickle'), P.su('__bit_generator_ctor'), P.op(0x93, 0x86, 'R', '}', 'b'),
      su('tree_'), P.su('sklearn.neighbors._kd_tree'), P.su('newObj'), P.op(0x93), P.su('sklearn.neighbors._kd_tree'), P.su('KDTree'), P.op(0x93, 0x85, 'R', '}'), su('leaf_size'), P.op('K', 40, 's', 'b'),
      su('_loss'), P.su('sklearn._loss._loss'), P.su('__pyx_unpickle_CyHalfSquaredError'), P.op(0x93), P.su('sklearn._loss._loss'), P.su('CyHalfSquaredError'), P.op(0x93, 'J', 1, 2, 3, 4, 'N', 0x87, 'R'),
      su('_sklearn_version'), su('1.5.1'), P.op('u', 'b', '.'),
    );
    const { findings } = await scanBytes(est, 'model.joblib');
    assert.ok(findings.length > 0 && findings.every((f) => f.severity === 'medium'), JSON.stringify(findings));
  });
});

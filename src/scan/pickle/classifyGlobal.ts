import type { Severity } from '../types.js';
import { py2ModuleMapping, py2NameMapping } from './py2Compat.js';
import { stdlibModules } from './stdlibModules.js';

export interface GlobalVerdict {
  /** null: allowlisted, nothing to report. */
  severity: Severity | null;
  rule: 'pickle/dangerous-global' | 'pickle/unknown-global' | 'pickle/known-class';
  reason: string;
}

/**
 * What real model files import: tensor/storage rebuild functions, containers, numpy
 * reconstruction, dtypes. Anything else is at least `medium`: an allowlist cannot be bypassed
 * by a gadget nobody thought of, which is how picklescan/modelscan denylists fall.
 */
const allowed: Record<string, ReadonlySet<string>> = {
  collections: new Set(['OrderedDict', 'defaultdict', 'deque', 'Counter']),
  'torch._utils': new Set([
    '_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3', '_rebuild_parameter', '_rebuild_parameter_with_state',
    '_rebuild_sparse_tensor', '_rebuild_sparse_csr_tensor', '_rebuild_device_tensor_from_numpy', '_rebuild_qtensor',
    '_rebuild_nested_tensor', '_rebuild_wrapper_subclass', '_rebuild_meta_tensor_no_storage', '_rebuild_xla_tensor',
    '_rebuild_mps_tensor', '_rebuild_device_tensor_from_cpu_tensor',
  ]),
  'torch._tensor': new Set(['_rebuild_from_type', '_rebuild_from_type_v2']),
  // TorchScript archives (torch.jit.save) rebuild their constants with these.
  'torch.jit._pickle': new Set(['build_intlist', 'build_floatlist', 'build_boollist', 'build_doublelist', 'build_tensorlist', 'build_tensor_from_id', 'restore_type_tag']),
  'torch.nn.parameter': new Set(['Parameter', 'Buffer']),
  torch: new Set([
    'Size', 'device', 'Tensor', 'dtype', 'layout', 'memory_format', 'strided', 'sparse_coo', 'sparse_csr',
    'contiguous_format', 'channels_last', 'channels_last_3d', 'preserve_format', 'per_tensor_affine', 'per_channel_affine',
    'FloatStorage', 'DoubleStorage', 'HalfStorage', 'BFloat16Storage', 'LongStorage', 'IntStorage', 'ShortStorage',
    'CharStorage', 'ByteStorage', 'BoolStorage', 'ComplexFloatStorage', 'ComplexDoubleStorage', 'QUInt8Storage',
    'QInt8Storage', 'QInt32Storage', 'QUInt4x2Storage', 'QUInt2x4Storage', 'UntypedStorage', 'TypedStorage',
    'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'uint8', 'int8', 'int16', 'short', 'int32',
    'int', 'int64', 'long', 'bool', 'complex64', 'complex128', 'cfloat', 'cdouble', 'float8_e4m3fn', 'float8_e5m2',
    'float8_e4m3fnuz', 'float8_e5m2fnuz', 'uint16', 'uint32', 'uint64', 'quint8', 'qint8', 'qint32', 'quint4x2',
  ]),
  'torch.storage': new Set(['UntypedStorage', 'TypedStorage']),
  'torch.serialization': new Set(['_get_layout']),
  'numpy.core.multiarray': new Set(['_reconstruct', 'scalar']),
  'numpy._core.multiarray': new Set(['_reconstruct', 'scalar']),
  'numpy.core.numeric': new Set(['_frombuffer']),
  // numpy ufuncs; its (module, name) arguments are checked where it is called (scanPickle).
  'numpy.core': new Set(['_ufunc_reconstruct']),
  'numpy._core': new Set(['_ufunc_reconstruct']),
  'numpy._core.numeric': new Set(['_frombuffer']),
  // RandomState/Generator objects inside sklearn estimators: (name-of-bit-generator, state).
  'numpy.random._pickle': new Set(['__randomstate_ctor', '__bit_generator_ctor', '__generator_ctor']),
  'numpy.random': new Set(['__RandomState_ctor']),
  numpy: new Set(['ndarray', 'dtype', 'bool_', 'float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'complex64', 'complex128']),
  _codecs: new Set(['encode']),
  builtins: new Set(['set', 'frozenset', 'bytearray', 'slice', 'complex', 'range', 'list', 'dict', 'tuple', 'int', 'float', 'str', 'bytes', 'bool', 'object']),
  __builtin__: new Set(['set', 'frozenset', 'bytearray', 'slice', 'complex', 'xrange', 'list', 'dict', 'tuple', 'int', 'long', 'float', 'str', 'unicode', 'bool', 'object']),
  copyreg: new Set(['_reconstructor']),
  copy_reg: new Set(['_reconstructor']),
  datetime: new Set(['datetime', 'date', 'time', 'timedelta', 'timezone']),
  decimal: new Set(['Decimal']),
  fractions: new Set(['Fraction']),
  uuid: new Set(['UUID']),
  pathlib: new Set(['PosixPath', 'WindowsPath', 'PurePosixPath', 'PureWindowsPath', 'Path']),
  argparse: new Set(['Namespace']),
  re: new Set(['_compile']),
  types: new Set(['SimpleNamespace']),
  'joblib.numpy_pickle': new Set(['NumpyArrayWrapper']),
};

/** Module prefixes whose classes carry no user code but do mean a whole object graph was pickled. */
const knownClassPrefixes = ['torch.nn.modules.', 'numpy.dtypes', 'torch.optim.', 'torch.ao.', 'numpy.random.'];

/** Any import from these runs code, spawns processes, touches files or the network, or loads more pickles. */
const criticalModules = new Set([
  'os', 'posix', 'nt', 'subprocess', 'pty', 'socket', 'runpy', 'webbrowser', 'shutil', 'ctypes', '_ctypes', 'sys',
  'importlib', 'imp', 'code', 'codeop', 'pickle', '_pickle', 'cPickle', 'marshal', 'types', 'commands', 'popen2',
  'platform', 'pdb', 'bdb', 'timeit', 'cProfile', 'profile', 'trace', 'pydoc', 'multiprocessing', 'asyncio', '_posixsubprocess',
  'signal', 'http', 'urllib', 'urllib2', 'urllib3', 'requests', 'httplib', 'ftplib', 'smtplib', 'telnetlib', 'xmlrpc',
  'socketserver', 'zipimport', 'ensurepip', 'venv', 'distutils', 'setuptools', 'pip', 'site', 'dill', 'cloudpickle',
  'io', '_io', 'tempfile', 'glob', 'sqlite3', 'ssl', 'fcntl', 'resource', 'threading', '_thread', 'shelve', 'dbm',
]);

/** Dotted prefixes (third-party) that load code or nested pickles. */
const criticalPrefixes = [
  'numpy.testing', 'numpy.load', 'numpy.lib.npyio', 'torch.hub', 'torch.load', 'torch.serialization.load', 'torch.jit',
  'torch.utils.cpp_extension', 'torch.package', 'torch._C', 'torch.ops', 'torch.storage._load_from_bytes', 'joblib.load',
  'pandas.read_pickle', 'pandas.io.pickle', 'yaml.load', 'yaml.unsafe_load', 'yaml.full_load', 'keras.models.load_model',
  'tensorflow.io', 'tensorflow.keras.models.load_model', 'transformers.utils.import_utils', 'jinja2',
];

const criticalBuiltins = new Set([
  'eval', 'exec', 'execfile', 'compile', 'open', 'file', 'getattr', 'setattr', 'delattr', '__import__', 'globals', 'locals',
  'vars', 'input', 'raw_input', 'breakpoint', 'apply', 'reload', 'exit', 'quit', 'help', 'type',
]);

const criticalOperator = new Set(['attrgetter', 'methodcaller', 'itemgetter', 'call']);

/** Function names that do harm whatever module they come from, matched at the start of any word of the name. */
const dangerousNamePattern = /^(system|popen|exec|eval|spawn|call|run|check_output|check_call|getoutput|load|loads|open|remove|unlink|rmtree|write|__import__|import_module|getattr|compile|fork|kill|connect|urlopen|interact|start_new_thread|b64decode|memmap|mmap|fromfile|tofile)/i;

/** Matched anywhere in a function-like name (`myeval`, `_exec_with_source`): too specific to occur by chance. */
const dangerousInfix = /(eval|exec|system|popen|spawn|getattr|__import__|import_module|getoutput|check_output|b64decode|urlopen|rmtree|unlink|subprocess|memmap)/i;

/**
 * Third-party callables that open, map or write files named by their arguments (the path comes
 * from the pickle): numpy.memmap creates or truncates any file; joblib's pre-0.10 wrappers read
 * arrays from files named in the pickle.
 */
const fileAccessCallables = new Set([
  'numpy.memmap', 'numpy.core.memmap.memmap', 'numpy._core.memmap.memmap', 'numpy.fromfile', 'numpy.core.multiarray.fromfile',
  'numpy._core.multiarray.fromfile', 'numpy.genfromtxt', 'numpy.loadtxt', 'numpy.save', 'numpy.savez', 'numpy.savez_compressed',
  'numpy.savetxt', 'numpy.DataSource', 'numpy.lib.format.open_memmap', 'numpy.lib.format.read_array', 'numpy.lib.format.write_array',
  'torch.from_file', 'joblib.numpy_pickle_compat.NDArrayWrapper', 'joblib.numpy_pickle_compat.ZNDArrayWrapper',
  'joblib.dump', 'h5py.File', 'h5py._hl.files.File', 'pandas.read_csv', 'pandas.read_parquet', 'pandas.read_hdf', 'pandas.read_json',
]);
const fileAccessPrefixes = ['numpy.lib._datasource', 'numpy.lib.format', 'numpy.core.memmap', 'numpy._core.memmap', 'fsspec', 'smart_open', 'pandas.io'];

/** Start offsets of the words of an identifier: after underscores, at lower→upper case changes, at letter↔digit changes. */
function wordStarts(name: string): number[] {
  const starts: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    const p = i > 0 ? name[i - 1]! : '_';
    if (c === '_' || c === '.') continue;
    const boundary = p === '_' || p === '.' || (/[A-Z]/.test(c) && /[a-z0-9]/.test(p)) || (/[0-9]/.test(c) !== /[0-9]/.test(p));
    if (boundary) starts.push(i);
  }
  return starts;
}

/** Words that name code execution even inside a class name (`RemoteExecutor`, `MyEvalHelper`). */
const strongWordPattern = /^(system|popen|exec|eval|spawn|getattr|import|getoutput|check_output|b64decode|urlopen|rmtree|unlink|memmap|mmap|fromfile|tofile)/i;

/**
 * The dangerous-name test. Function-like names (lower-case first letter): the pattern at any word
 * start or a specific infix anywhere. Class names: the pattern at the start, strong words at any
 * word start; `TrainerCallback` or `DataLoader` classes are not what a gadget looks like.
 */
export function hasDangerousName(name: string): boolean {
  if (dangerousNamePattern.test(name)) return true;
  const functionLike = /^_*[a-z]/.test(name);
  const words = functionLike ? dangerousNamePattern : strongWordPattern;
  if (wordStarts(name).some((i) => words.test(name.slice(i)))) return true;
  return functionLike && dangerousInfix.test(name);
}

/**
 * Protocol 4+ resolves dotted names attribute by attribute (`find_class('torch.serialization',
 * 'pickle.loads')` is `pickle.loads`), so an allowlisted-looking module can reach anything it
 * imported. Nested classes (`Outer.Inner`) are the only benign use.
 */
function classifyDottedName(module: string, name: string): GlobalVerdict | null {
  if (!name.includes('.')) return null;
  const parts = name.split('.');
  if (parts.some((p) => /^__.*__$/.test(p))) {
    return { severity: 'critical', rule: 'pickle/dangerous-global', reason: 'dotted name walks dunder attributes (sandbox escape)' };
  }
  const viaModule = parts.slice(0, -1).find((p) => criticalModules.has(p) || p === 'builtins' || p === '__builtins__');
  if (viaModule) {
    return { severity: 'critical', rule: 'pickle/dangerous-global', reason: `dotted name reaches module ${viaModule} through ${module}` };
  }
  if (parts.every((p) => /^_*[A-Z]/.test(p))) return null; // Outer.Inner class nesting
  const inner = classifyGlobal(parts.slice(0, -1).join('.'), parts[parts.length - 1]!);
  if (inner.severity === 'critical') return inner;
  return { severity: 'high', rule: 'pickle/dangerous-global', reason: 'dotted name resolves an attribute path through another object' };
}

const severityOrder = ['critical', 'high', 'medium', 'low'] as const;

/** Classifies what Python will import: the name as written and its Python 2 rewrite, whichever is worse. */
export function classifyGlobal(module: string, name: string): GlobalVerdict {
  const direct = classifyAsWritten(module, name);
  const mapped = py2NameMapping[`${module}.${name}`];
  const [m2, n2] = mapped ? (mapped.split('|') as [string, string]) : [py2ModuleMapping[module] ?? module, name];
  if (m2 === module && n2 === name) return direct;
  const rewritten = classifyAsWritten(m2, n2);
  const rank = (v: GlobalVerdict): number => (v.severity === null ? 99 : severityOrder.indexOf(v.severity as (typeof severityOrder)[number]));
  return rank(rewritten) < rank(direct) ? { ...rewritten, reason: `${rewritten.reason} (imported as ${m2}.${n2})` } : direct;
}

function classifyAsWritten(module: string, name: string): GlobalVerdict {
  const dotted0 = classifyDottedName(module, name);
  if (dotted0) return dotted0;
  const allowedNames = allowed[module];
  if (allowedNames?.has(name)) return { severity: null, rule: 'pickle/unknown-global', reason: 'allowlisted' };
  const dotted = `${module}.${name}`;
  const root = module.split('.')[0] ?? module;
  if (module === 'builtins' || module === '__builtin__') {
    if (criticalBuiltins.has(name)) return { severity: 'critical', rule: 'pickle/dangerous-global', reason: 'builtin that evaluates code or reaches arbitrary attributes' };
    return { severity: 'high', rule: 'pickle/dangerous-global', reason: 'builtin outside the allowlist' };
  }
  if (module === 'operator' || module === '_operator') {
    if (criticalOperator.has(name)) return { severity: 'critical', rule: 'pickle/dangerous-global', reason: 'builds arbitrary attribute or method calls' };
  }
  if (module === 'functools' && (name === 'partial' || name === 'reduce')) {
    return { severity: 'high', rule: 'pickle/dangerous-global', reason: 'composes calls to other callables' };
  }
  if (criticalModules.has(root)) return { severity: 'critical', rule: 'pickle/dangerous-global', reason: `module ${root} can run commands, load code or touch files/network` };
  if (criticalPrefixes.some((p) => dotted === p || dotted.startsWith(p + '.') || module === p || module.startsWith(p + '.'))) {
    return { severity: 'critical', rule: 'pickle/dangerous-global', reason: 'loads code or nested pickles' };
  }
  if (fileAccessCallables.has(dotted) || fileAccessPrefixes.some((p) => module === p || module.startsWith(p + '.'))) {
    return { severity: 'high', rule: 'pickle/dangerous-global', reason: 'opens, maps or writes a file named by its arguments' };
  }
  if (hasDangerousName(name)) return { severity: 'high', rule: 'pickle/dangerous-global', reason: 'name suggests code execution, file or network access' };
  if (stdlibModules.has(root)) return { severity: 'high', rule: 'pickle/dangerous-global', reason: 'standard-library callable outside the allowlist (gadget)' };
  if (knownClassPrefixes.some((p) => module.startsWith(p)) && /^[A-Z]/.test(name)) {
    return { severity: 'low', rule: 'pickle/known-class', reason: 'library class: a whole object was pickled rather than a state dict' };
  }
  if (root === '__torch__') return { severity: 'low', rule: 'pickle/known-class', reason: 'TorchScript class, resolved from the archive\'s compiled code rather than imported from Python' };
  if (root === '__main__') return { severity: 'medium', rule: 'pickle/unknown-global', reason: 'class from the saving script (__main__): loading imports and runs its code' };
  return { severity: 'medium', rule: 'pickle/unknown-global', reason: 'not on the allowlist: loading imports this module and may run its code' };
}

import { FIXED_CODE_SIZES, SIMPLE_DESCR } from '../numpyTypeCodes.js';
import { CallResult, GlobalRef, type PickleValue } from './values.js';

/** How joblib's NumpyArrayWrapper.read consumes the bytes after the wrapper's BUILD. */
export type ArrayLayout = { kind: 'object' } | { kind: 'raw'; itemsize: number } | { kind: 'unknown'; why: string };

/** Element sizes numpy gives the one-letter type codes that do not depend on the platform (datetimes and `c` included). */
const typeCodeSize: Readonly<Record<string, number>> = { ...FIXED_CODE_SIZES, M: 8, m: 8, c: 1 };

/** `<kind><n>` spellings numpy accepts, with the sizes it accepts for each (the size is n bytes). */
const sizedKinds: Readonly<Record<string, ReadonlySet<number>>> = {
  b: new Set([1]), i: new Set([1, 2, 4, 8]), u: new Set([1, 2, 4, 8]), f: new Set([2, 4, 8, 12, 16]),
  c: new Set([8, 16, 24, 32]), M: new Set([8]), m: new Set([8]),
};

/** Flexible kinds: numpy takes their item size from the dtype's pickled state, not the descr. */
const flexibleKinds = new Set(['S', 'a', 'U', 'V']);

const dtypeModules = new Set(['numpy', 'numpy.core.multiarray', 'numpy._core.multiarray']);

/**
 * The element size numpy will use for a pickled `numpy.dtype(descr, align, copy)` plus its BUILD
 * state, or `unknown` whenever it is not certain: l/L/g/G/p/P depend on the platform, structured
 * and subarray dtypes and state flags that mark objects change how joblib reads the data.
 * Guessing here lets an attacker resync the scan on bytes joblib treats differently.
 */
export function numpyArrayLayout(dtype: PickleValue | undefined): ArrayLayout {
  if (!(dtype instanceof CallResult) || !(dtype.callee instanceof GlobalRef) || dtype.callee.name !== 'dtype' || !dtypeModules.has(dtype.callee.module)) {
    return { kind: 'unknown', why: 'dtype is not a numpy.dtype(...) call' };
  }
  const descr = Array.isArray(dtype.args) ? dtype.args[0] : undefined;
  const m = typeof descr === 'string' ? SIMPLE_DESCR.exec(descr) : null;
  if (!m) return { kind: 'unknown', why: `dtype descr ${JSON.stringify(typeof descr === 'string' ? descr.slice(0, 40) : typeof descr)} is not a simple type code` };
  const [, kind, digits, unit] = m as unknown as [string, string, string, string | undefined];
  if (kind === 'O') return { kind: 'object' };
  if (unit !== undefined && kind !== 'M' && kind !== 'm') return { kind: 'unknown', why: `dtype ${descr} has a unit but is not a datetime` };
  const state = dtype.state;
  let stateSize: number | undefined;
  if (state !== null) {
    // (version, endian, subarray, names, fields, elsize, alignment, flags[, metadata]), versions 3/4.
    if (!Array.isArray(state) || (state.length !== 8 && state.length !== 9) || (state[0] !== 3 && state[0] !== 4)) {
      return { kind: 'unknown', why: 'dtype state is not a numpy (3|4, ...) state tuple' };
    }
    const [, , subarray, names, fields, elsize, , flags] = state;
    if (typeof flags !== 'number' || (flags & 1) !== 0) return { kind: 'unknown', why: 'dtype state flags mark it as holding objects' };
    if (subarray !== null || names !== null || fields !== null) return { kind: 'unknown', why: 'structured or subarray dtype' };
    if (typeof elsize !== 'number') return { kind: 'unknown', why: 'dtype state without an element size' };
    stateSize = elsize;
  }
  let size: number | undefined;
  if (flexibleKinds.has(kind) || (kind === 'c' && digits === '')) {
    const n = digits === '' ? (kind === 'c' ? 1 : 0) : Number(digits);
    size = stateSize !== undefined ? stateSize : kind === 'U' ? 4 * n : n;
  } else if (digits === '') {
    size = typeCodeSize[kind];
  } else if (sizedKinds[kind]?.has(Number(digits))) {
    size = Number(digits);
  }
  if (size === undefined) return { kind: 'unknown', why: `dtype ${descr} has no platform-independent size` };
  if (!Number.isSafeInteger(size) || size <= 0) return { kind: 'unknown', why: `dtype ${descr} has element size ${size}` };
  return { kind: 'raw', itemsize: size };
}

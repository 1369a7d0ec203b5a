import { DataLiterals, integerOfLiteral } from './exactIntegers.js';
import { arr, choices, fail, isObject, nonEmptyStr, obj, refuseCaseVariants, str, typeName, type ValidationLimits } from './checks.js';

/** Tensor data types of the Open Inference Protocol v2 (KServe/Triton "Tensor Data Types"). */
export const OIP_DATATYPES = choices(['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES']);

const MAX_RANK = 32;
const MAX_NAME = 256;

/** Keys of the request, its inputs and its outputs, for refuseCaseVariants. */
export const OIP_FIELDS: ReadonlySet<string> = new Set(['id', 'parameters', 'inputs', 'outputs']);
export const OIP_INPUT_FIELDS: ReadonlySet<string> = new Set(['name', 'shape', 'datatype', 'parameters', 'data']);
export const OIP_OUTPUT_FIELDS: ReadonlySet<string> = new Set(['name', 'parameters']);

/**
 * [min, max] for integer types, max |x| for float types. The 64-bit bounds are the nearest
 * doubles (2^64 - 1 and 2^63 - 1 are not doubles: they round up); an element parsed to exactly
 * such a bound is checked on its literal text (EXACT_BOUNDS), anything beyond it is out of range.
 */
const RANGES: Record<string, readonly [number, number]> = {
  UINT8: [0, 255],
  UINT16: [0, 65_535],
  UINT32: [0, 4_294_967_295],
  UINT64: [0, 2 ** 64],
  INT8: [-128, 127],
  INT16: [-32_768, 32_767],
  INT32: [-2_147_483_648, 2_147_483_647],
  INT64: [-(2 ** 63), 2 ** 63],
  FP16: [-65_504, 65_504],
  FP32: [-3.4028234663852886e38, 3.4028234663852886e38],
  FP64: [-Number.MAX_VALUE, Number.MAX_VALUE],
};

const EXACT_BOUNDS: Record<string, readonly [bigint, bigint]> = {
  UINT64: [0n, 2n ** 64n - 1n],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
};

/** element() found a number equal to a rounded 64-bit bound: its literal decides. */
const ON_BOUND = 'on bound';

interface TensorCheck {
  datatype: string;
  shape: readonly number[];
  min: number;
  max: number;
  isInt: boolean;
  count: number;
  expected: number;
  maxString: number;
  /** Flat indexes of elements on a 64-bit bound (allocated only when one is found). */
  onBound: number[] | null;
}

/** Checks one element; returns an error message or null. */
function element(v: unknown, t: TensorCheck): string | null {
  switch (t.datatype) {
    case 'BOOL':
      return typeof v === 'boolean' ? null : `expected a boolean, got ${typeName(v)}`;
    case 'BYTES':
      return str(v, t.maxString);
    default:
      if (typeof v !== 'number' || !Number.isFinite(v)) return `expected a finite number, got ${typeof v === 'number' ? String(v) : typeName(v)}`;
      if (t.isInt && !Number.isInteger(v)) return `expected an integer for ${t.datatype}`;
      if (v < t.min || v > t.max) return `out of range for ${t.datatype}`;
      if ((v === t.max || v === t.min) && v !== 0 && EXACT_BOUNDS[t.datatype]) return ON_BOUND;
      return null;
  }
}

/**
 * Walks flat or nested (row-major) data, counting elements; fails at the first bad one. An array
 * at depth d either splits dimension d (shape[d] arrays, one level deeper) or holds the elements
 * of dimensions d… flattened (∏shape[d…] values): ragged ([[1, 2, 3], [4]] for [2, 2]), mixed or
 * over-nested data is refused, as servers would lay such data out differently. Depth 0 (the
 * whole data array) is the flat form; its element count is checked by the caller.
 */
function walk(data: unknown[], t: TensorCheck, i: number, depth: number): void {
  const shape = t.shape;
  if (data.length > 0 && Array.isArray(data[0])) {
    if (depth >= shape.length - 1 || data.length !== shape[depth]) mismatch(t, i);
    for (let j = 0; j < data.length; j++) {
      const v: unknown = data[j];
      if (!Array.isArray(v)) mismatch(t, i);
      walk(v, t, i, depth + 1);
    }
    return;
  }
  if (depth > 0) {
    let size = 1;
    for (let d = depth; d < shape.length; d++) size *= shape[d]!;
    if (data.length !== size) mismatch(t, i);
  }
  for (let j = 0; j < data.length; j++) {
    const v: unknown = data[j];
    if (Array.isArray(v)) mismatch(t, i);
    if (++t.count > t.expected) fail(`inputs[${i}].data`, `has more elements than shape allows (${t.expected})`);
    const e = element(v, t);
    if (e === ON_BOUND) (t.onBound ??= []).push(t.count - 1);
    // The flat index locates the element for the client without echoing its value.
    else if (e) fail(`inputs[${i}].data[${t.count - 1}]`, e);
  }
}

function mismatch(t: TensorCheck, i: number): never {
  fail(`inputs[${i}].data`, `nested arrays do not match shape [${t.shape.join(', ')}] (ragged, mixed or nested too deep)`);
}

/** Elements on a 64-bit bound, checked on their literal text: within the exact bounds, or refused. */
function checkOnBound(t: TensorCheck, i: number, source: DataLiterals | null): void {
  const indexes = t.onBound!;
  const literals = source === null ? null : source.of(i);
  const [min, max] = EXACT_BOUNDS[t.datatype]!;
  for (const k of indexes) {
    const literal = literals?.[k];
    const value = literal === undefined ? null : integerOfLiteral(literal);
    if (value === null || value < min || value > max) fail(`inputs[${i}].data[${k}]`, `out of range for ${t.datatype}`);
  }
}

const BINARY_UNSUPPORTED = 'the binary tensor extension is not supported; ask for JSON tensors (binary_data: false)';

function asksBinary(parameters: unknown, key: string): boolean {
  return isObject(parameters) && parameters[key] === true;
}

/** Body of POST /v2/models/{model}[/versions/{v}]/infer (OIP v2 inference request, JSON form). */
export function validateOipInfer(body: Record<string, unknown>, limits: ValidationLimits, rawBody: Buffer | null = null): void {
  refuseCaseVariants(body, OIP_FIELDS, '');
  if (body.id != null) {
    const e = str(body.id, MAX_NAME);
    if (e) fail('id', e);
  }
  if (body.parameters != null && obj(body.parameters)) fail('parameters', `expected an object, got ${typeName(body.parameters)}`);
  // Binary answers (Triton's binary tensor extension) cannot be read by the output guards: asked
  // for here, the answer would be withheld only after the model ran.
  if (asksBinary(body.parameters, 'binary_data_output')) fail('parameters.binary_data_output', BINARY_UNSUPPORTED);
  const inputs = body.inputs;
  if (inputs === undefined || inputs === null) fail('inputs', 'is required');
  const ae = arr(inputs, limits.maxInputs);
  if (ae) fail('inputs', ae);
  const list = inputs as unknown[];
  if (list.length === 0) fail('inputs', 'must contain at least one tensor');
  let total = 0;
  // Created (and the body parsed) only when an element sits on a 64-bit bound; shared by all inputs.
  let literals: DataLiterals | null = null;
  for (let i = 0; i < list.length; i++) {
    const input: unknown = list[i];
    if (!isObject(input)) fail(`inputs[${i}]`, `expected an object, got ${typeName(input)}`);
    refuseCaseVariants(input, OIP_INPUT_FIELDS, `inputs[${i}].`);
    const ne = nonEmptyStr(input.name, MAX_NAME);
    if (ne) fail(`inputs[${i}].name`, ne);
    for (let k = 0; k < i; k++) if ((list[k] as Record<string, unknown>).name === input.name) fail(`inputs[${i}].name`, 'duplicate input name');
    const datatype = input.datatype;
    if (typeof datatype !== 'string' || !OIP_DATATYPES.set.has(datatype)) fail(`inputs[${i}].datatype`, `expected one of ${OIP_DATATYPES.listed}`);
    const shape = input.shape;
    if (!Array.isArray(shape)) fail(`inputs[${i}].shape`, `expected an array, got ${typeName(shape)}`);
    if (shape.length > MAX_RANK) fail(`inputs[${i}].shape`, `rank above ${MAX_RANK}`);
    let expected = 1;
    for (let d = 0; d < shape.length; d++) {
      const dim: unknown = shape[d];
      if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 0) fail(`inputs[${i}].shape[${d}]`, 'expected a non-negative integer');
      // Each dimension on its own too: after a 0 the product stays 0 whatever follows ([0, 1e300]).
      if (dim > limits.maxInputElements) fail(`inputs[${i}].shape[${d}]`, `above ${limits.maxInputElements}`);
      expected *= dim;
      // Checked per dimension so a huge shape cannot overflow before being refused.
      if (expected > limits.maxInputElements) fail(`inputs[${i}].shape`, `describes more than ${limits.maxInputElements} elements`);
    }
    total += expected;
    if (total > limits.maxInputElements) fail('inputs', `more than ${limits.maxInputElements} elements in total`);
    if (input.parameters != null && obj(input.parameters)) fail(`inputs[${i}].parameters`, `expected an object, got ${typeName(input.parameters)}`);
    const data = input.data;
    if (!Array.isArray(data)) fail(`inputs[${i}].data`, data === undefined ? 'is required (the binary tensor extension is not supported)' : `expected an array, got ${typeName(data)}`);
    const range = RANGES[datatype];
    const t: TensorCheck = {
      datatype,
      shape: shape as number[],
      min: range ? range[0] : 0,
      max: range ? range[1] : 0,
      isInt: datatype.includes('INT'),
      count: 0,
      expected,
      maxString: limits.maxStringLength,
      onBound: null,
    };
    walk(data, t, i, 0);
    if (t.count !== expected) fail(`inputs[${i}].data`, `has ${t.count} elements but shape [${shape.join(', ')}] needs ${expected}`);
    if (t.onBound) checkOnBound(t, i, rawBody === null ? null : (literals ??= new DataLiterals(rawBody)));
  }
  const outputs = body.outputs;
  if (outputs != null) {
    const oe = arr(outputs, limits.maxInputs);
    if (oe) fail('outputs', oe);
    const outs = outputs as unknown[];
    for (let i = 0; i < outs.length; i++) {
      const o: unknown = outs[i];
      if (!isObject(o)) fail(`outputs[${i}]`, `expected an object, got ${typeName(o)}`);
      refuseCaseVariants(o, OIP_OUTPUT_FIELDS, `outputs[${i}].`);
      const e = nonEmptyStr(o.name, MAX_NAME);
      if (e) fail(`outputs[${i}].name`, e);
      if (o.parameters != null && obj(o.parameters)) fail(`outputs[${i}].parameters`, `expected an object, got ${typeName(o.parameters)}`);
      if (asksBinary(o.parameters, 'binary_data')) fail(`outputs[${i}].parameters.binary_data`, BINARY_UNSUPPORTED);
    }
  }
}

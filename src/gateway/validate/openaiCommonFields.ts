import { arr, bool, fail, int, isObject, nonEmptyStr, num, obj, str, typeName, type FieldCheck, type ValidationLimits } from './checks.js';
import { LONE_SURROGATE, MAX_MODEL_NAME_LENGTH } from '../modelName.js';

/** Sampling and bookkeeping fields shared by /v1/chat/completions and /v1/completions. */
export const MAX_SHORT = 512;

const stop: FieldCheck = (v) => {
  if (typeof v === 'string') return str(v, MAX_SHORT);
  if (!Array.isArray(v)) return `expected a string or an array of strings, got ${typeName(v)}`;
  if (v.length > 4) return 'at most 4 stop sequences';
  for (let i = 0; i < v.length; i++) {
    const e = str(v[i], MAX_SHORT);
    if (e) fail(`stop[${i}]`, e);
  }
  return null;
};

const logitBias: FieldCheck = (v) => {
  if (!isObject(v)) return `expected an object, got ${typeName(v)}`;
  let n = 0;
  for (const k in v) {
    if (++n > 1024) return 'more than 1024 entries';
    if (!/^\d{1,10}$/.test(k)) fail('logit_bias', 'keys must be token ids');
    const e = num(v[k], -100, 100);
    if (e) fail(`logit_bias.${k}`, e);
  }
  return null;
};

const streamOptions: FieldCheck = (v) => {
  if (!isObject(v)) return `expected an object, got ${typeName(v)}`;
  for (const k of ['include_usage', 'include_obfuscation']) {
    const x = v[k];
    if (x !== undefined && x !== null) {
      const e = bool(x);
      if (e) fail(`stream_options.${k}`, e);
    }
  }
  return null;
};

const metadata: FieldCheck = (v) => {
  if (!isObject(v)) return `expected an object, got ${typeName(v)}`;
  let n = 0;
  for (const k in v) {
    if (++n > 16) return 'at most 16 entries';
    if (k.length > 64) fail('metadata', 'keys are at most 64 characters');
    const e = str(v[k], MAX_SHORT);
    // The entry by position: keys are client text, and errors never repeat client text.
    if (e) fail(`metadata (entry ${n})`, e);
  }
  return null;
};

/** The same rule as isRequestModelName (key scopes are checked against it too), with the reason. */
export const modelField: FieldCheck = (v) =>
  nonEmptyStr(v, MAX_MODEL_NAME_LENGTH) ?? (typeof v === 'string' && LONE_SURROGATE.test(v) ? 'must be valid Unicode text (an unpaired surrogate is not)' : null);

const shortString: FieldCheck = (v) => str(v, MAX_SHORT);
const boolean: FieldCheck = (v) => bool(v);
const object: FieldCheck = (v) => obj(v);

export function maxTokens(min: number): FieldCheck {
  return (v, limits: ValidationLimits) => int(v, min, limits.maxTokensCeiling);
}

/** Entries every text-generation body accepts, with their checks. */
export const commonGenerationFields: readonly [string, FieldCheck][] = [
  ['model', modelField],
  ['temperature', (v) => num(v, 0, 2)],
  ['top_p', (v) => num(v, 0, 1)],
  ['n', (v) => int(v, 1, 128)],
  ['stream', boolean],
  ['stream_options', streamOptions],
  ['stop', stop],
  ['presence_penalty', (v) => num(v, -2, 2)],
  ['frequency_penalty', (v) => num(v, -2, 2)],
  ['logit_bias', logitBias],
  ['seed', (v) => int(v, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)],
  ['user', shortString],
  ['metadata', metadata],
  ['store', boolean],
  ['service_tier', shortString],
];

export { shortString, boolean, object, arr };

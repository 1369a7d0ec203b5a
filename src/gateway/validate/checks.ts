import { WardenError } from '../../errors/index.js';
import { foldKey } from './foldKey.js';

/**
 * Building blocks of the body validators. Scalar checks return an error message or null, so
 * a caller builds the field path (a string) only when something is wrong: nothing is allocated
 * for a valid request. Messages name the expected type and the type received, never the value
 * (it may be a secret or personal data).
 */

export interface ValidationLimits {
  /** Most chat messages per request. */
  maxMessages: number;
  /** Ceiling for max_tokens / max_completion_tokens. */
  maxTokensCeiling: number;
  /** Longest single string (message content, prompt, text part, data URL), in UTF-16 units. */
  maxStringLength: number;
  /** Most elements: embedding inputs, prompt tokens, OIP tensor elements (all inputs together). */
  maxInputElements: number;
  /** Most OIP input tensors per request. */
  maxInputs: number;
}

export const DEFAULT_VALIDATION_LIMITS: Readonly<ValidationLimits> = Object.freeze({
  maxMessages: 1024,
  maxTokensCeiling: 131_072,
  maxStringLength: 1_048_576,
  maxInputElements: 1_000_000,
  maxInputs: 64,
});

export function fail(path: string, message: string): never {
  throw new WardenError('WARDEN_GATEWAY_INVALID_REQUEST', `${path}: ${message}`, { param: path });
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: unknown, maxLength: number): string | null {
  if (typeof v !== 'string') return `expected a string, got ${typeName(v)}`;
  if (v.length > maxLength) return `string longer than ${maxLength} characters`;
  return null;
}

export function nonEmptyStr(v: unknown, maxLength: number): string | null {
  const e = str(v, maxLength);
  if (e) return e;
  return (v as string).length === 0 ? 'must not be empty' : null;
}

export function bool(v: unknown): string | null {
  return typeof v === 'boolean' ? null : `expected a boolean, got ${typeName(v)}`;
}

export function num(v: unknown, min: number, max: number): string | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return `expected a number, got ${typeName(v)}`;
  if (v < min || v > max) return `must be between ${min} and ${max}`;
  return null;
}

export function int(v: unknown, min: number, max: number): string | null {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `expected an integer, got ${typeof v === 'number' ? 'a fraction' : typeName(v)}`;
  if (v < min || v > max) return `must be between ${min} and ${max}`;
  return null;
}

export function oneOf(v: unknown, allowed: ReadonlySet<string>, listed: string): string | null {
  return typeof v === 'string' && allowed.has(v) ? null : `expected one of ${listed}`;
}

export function obj(v: unknown): string | null {
  return isObject(v) ? null : `expected an object, got ${typeName(v)}`;
}

export function arr(v: unknown, maxItems: number): string | null {
  if (!Array.isArray(v)) return `expected an array, got ${typeName(v)}`;
  return v.length > maxItems ? `more than ${maxItems} items` : null;
}

/** Enumeration helper: a Set for lookups and the comma list for the message, from one array. */
export function choices(values: readonly string[]): { set: ReadonlySet<string>; listed: string } {
  return { set: new Set(values), listed: values.join(', ') };
}

/** A top-level field check: returns an error message (path = the field name) or throws with a deeper path. */
export type FieldCheck = (value: unknown, limits: ValidationLimits) => string | null;

/**
 * Refuses `key` when it is not a known field but folds to one ("Model", "MAX_TOKENS",
 * "max_to\u212Aens"): JSON.parse keeps it apart, so the gateway would check (or miss) one field
 * while a Go model server read the other as the field itself. The path names the field, not the
 * key as sent (client text). Known names are lower-case ASCII, their own folded form.
 */
export function refuseCaseVariant(key: string, known: { has(name: string): boolean }, prefix: string): void {
  const folded = foldKey(key);
  if (folded !== key && known.has(folded)) fail(`${prefix}${folded}`, 'sent with other letter case; model servers that match keys case-insensitively would read it as this field');
}

/** refuseCaseVariant over every key of `o` that is not exactly a known field. */
export function refuseCaseVariants(o: Record<string, unknown>, known: ReadonlySet<string>, prefix: string): void {
  for (const key in o) if (!known.has(key)) refuseCaseVariant(key, known, prefix);
}

/**
 * Checks the fields present in `body` against `fields` (absent and null fields are skipped;
 * fields not listed pass untouched, for forward compatibility, unless they are a known field in
 * other letter case), then that `required` are present.
 */
export function checkFields(body: Record<string, unknown>, fields: ReadonlyMap<string, FieldCheck>, required: readonly string[], limits: ValidationLimits): void {
  for (const key in body) {
    const check = fields.get(key);
    if (check === undefined) {
      refuseCaseVariant(key, fields, '');
      continue;
    }
    const v = body[key];
    if (v === null || v === undefined) continue;
    const e = check(v, limits);
    if (e !== null) fail(key, e);
  }
  for (let i = 0; i < required.length; i++) {
    const key = required[i]!;
    const v = body[key];
    if (v === undefined || v === null) fail(key, 'is required');
  }
}

/** `string | string[] | int[] | int[][]` (prompt / embedding input), counting elements against the limit. */
export function textOrTokens(path: string, v: unknown, limits: ValidationLimits, allowEmpty: boolean): string | null {
  if (typeof v === 'string') return str(v, limits.maxStringLength) ?? (allowEmpty || v.length > 0 ? null : 'must not be empty');
  if (!Array.isArray(v)) return `expected a string or an array, got ${typeName(v)}`;
  if (v.length === 0) return allowEmpty ? null : 'must not be empty';
  if (v.length > limits.maxInputElements) return `more than ${limits.maxInputElements} items`;
  const first: unknown = v[0];
  if (typeof first === 'string') {
    for (let i = 0; i < v.length; i++) {
      const e = str(v[i], limits.maxStringLength);
      if (e) fail(`${path}[${i}]`, e);
    }
  } else if (typeof first === 'number') {
    for (let i = 0; i < v.length; i++) {
      const e = int(v[i], 0, 2 ** 32);
      if (e) fail(`${path}[${i}]`, `${e} (token id)`);
    }
  } else if (Array.isArray(first)) {
    let total = 0;
    for (let i = 0; i < v.length; i++) {
      const row: unknown = v[i];
      if (!Array.isArray(row)) fail(`${path}[${i}]`, `expected an array of token ids, got ${typeName(row)}`);
      total += row.length;
      if (total > limits.maxInputElements) fail(path, `more than ${limits.maxInputElements} tokens in total`);
      for (let j = 0; j < row.length; j++) {
        const e = int(row[j], 0, 2 ** 32);
        if (e) fail(`${path}[${i}][${j}]`, `${e} (token id)`);
      }
    }
  } else {
    return 'expected strings, token ids or arrays of token ids';
  }
  return null;
}

import { parse, isSafeNumber, LosslessNumber } from 'lossless-json';

/**
 * A number literal JSON.parse may not read back exactly: 16+ digits (an INT64/UINT64 above 2^53,
 * a long decimal) or a 3-digit exponent (1e400 becomes Infinity). Digits inside strings match
 * too; they only take the slower exact path.
 */
const MAYBE_INEXACT = /[0-9]{16}|[eE][+-]?[0-9]{3}/;

/** JSON.parse that keeps, as LosslessNumber text, the number literals JS numbers cannot hold exactly. */
export function parseKeepingNumbers(text: string): unknown {
  return parse(text, null, (t) => (isSafeNumber(t) ? parseFloat(t) : new LosslessNumber(t)));
}

/**
 * JSON text of `value`, a rewritten copy of the JSON document `original` (a redacted request, a
 * guarded answer), with every number the rewrite left alone written as it was in `original`.
 * JSON.stringify alone would write 9007199254740993 as 9007199254740992: an INT64 tensor or a
 * seed would silently change on its way through the gateway.
 */
export function stringifyKeepingNumbers(value: unknown, original: string): string {
  if (!MAYBE_INEXACT.test(original)) return JSON.stringify(value);
  let source: unknown;
  try {
    source = parseKeepingNumbers(original);
  } catch {
    return JSON.stringify(value);
  }
  return write(value, source);
}

function write(value: unknown, source: unknown): string {
  if (typeof value === 'number') {
    if (source instanceof LosslessNumber && parseFloat(source.value) === value) return source.value;
    return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  }
  if (Array.isArray(value)) {
    const from = Array.isArray(source) ? source : [];
    return `[${value.map((v, i) => (v === undefined || typeof v === 'function' ? 'null' : write(v, from[i]))).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const from = source !== null && typeof source === 'object' && !Array.isArray(source) && !(source instanceof LosslessNumber) ? (source as Record<string, unknown>) : {};
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function') continue;
      parts.push(`${JSON.stringify(k)}:${write(v, Object.hasOwn(from, k) ? from[k] : undefined)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

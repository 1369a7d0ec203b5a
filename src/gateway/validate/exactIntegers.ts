import { LosslessNumber } from 'lossless-json';
import { parseKeepingNumbers } from '../protocols/stringifyKeepingNumbers.js';

/**
 * The exact integer a JSON number literal denotes ("9223372036854775807", "9.2e18"), or null when
 * it is not an integer. Exponents are bounded: a literal this is asked about rounds to 2^63 or
 * 2^64, so a huge exponent can only come with a matching run of digits.
 */
export function integerOfLiteral(text: string): bigint | null {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return null;
  let digits = m[2]! + (m[3] ?? '');
  let exp = Number(m[4] ?? 0) - (m[3]?.length ?? 0);
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 100_000) return null;
  if (exp < 0) {
    // A fraction part is allowed only if it is all zeros ("9223372036854775807.000").
    const cut = digits.length + exp;
    if (cut < 0 ? /[1-9]/.test(digits) : /[1-9]/.test(digits.slice(cut))) return null;
    digits = cut <= 0 ? '0' : digits.slice(0, cut);
    exp = 0;
  }
  const value = BigInt(digits) * 10n ** BigInt(exp);
  return m[1] === '-' ? -value : value;
}

/** A JSON parser for DataLiterals: numbers beyond 2^53 must keep their text (lossless-json's LosslessNumber). */
export type LosslessParse = (text: string) => unknown;

/**
 * The number literals of the body's `inputs[k].data` (flattened in row-major order), as text.
 * Only for the rare element whose parsed value sits on a 64-bit bound: a JS number cannot tell
 * 9223372036854775807 (INT64 max) from 9223372036854775808 (both are 2^63 once parsed).
 * One per request: the body is parsed (losslessly, several times slower than JSON.parse) once,
 * on first use, however many inputs ask; a parse per input let 64 inputs with one valid
 * on-bound element each block the event loop for seconds on a 1 MB body.
 */
export class DataLiterals {
  private doc: unknown = undefined;
  private parsed = false;

  constructor(
    private readonly rawBody: Buffer,
    private readonly parse: LosslessParse = parseKeepingNumbers,
  ) {}

  /** Literals of `inputs[input].data`, or null when the body does not parse or has no such data. */
  of(input: number): string[] | null {
    if (!this.parsed) {
      this.parsed = true;
      try {
        this.doc = this.parse(this.rawBody.toString('utf8'));
      } catch {
        this.doc = null;
      }
    }
    const inputs = (this.doc as { inputs?: unknown } | null)?.inputs;
    const data = Array.isArray(inputs) ? (inputs[input] as { data?: unknown } | undefined)?.data : undefined;
    if (!Array.isArray(data)) return null;
    const out: string[] = [];
    const flatten = (a: unknown[]): void => {
      for (const v of a) {
        if (Array.isArray(v)) flatten(v);
        else out.push(v instanceof LosslessNumber ? v.value : String(v));
      }
    };
    flatten(data);
    return out;
  }
}

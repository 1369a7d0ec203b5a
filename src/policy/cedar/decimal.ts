import { CedarEvalError } from './errors.js';

/** Cedar `decimal`: a signed 64-bit integer scaled by 10^4 (four fractional digits). */
export class CedarDecimal {
  constructor(readonly scaled: bigint) {}
  toString(): string {
    const neg = this.scaled < 0n;
    const abs = neg ? -this.scaled : this.scaled;
    return `${neg ? '-' : ''}${abs / 10000n}.${(abs % 10000n).toString().padStart(4, '0')}`;
  }
}

const DECIMAL_PATTERN = /^(-?)([0-9]+)\.([0-9]{1,4})$/;
const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;

export function parseDecimal(text: string): CedarDecimal {
  const m = DECIMAL_PATTERN.exec(text);
  if (!m) throw new CedarEvalError(`decimal: ${JSON.stringify(text)} is not a well-formed decimal value`);
  const whole = BigInt(m[2]!) * 10000n;
  const frac = BigInt(m[3]!.padEnd(4, '0'));
  const scaled = m[1] ? -(whole + frac) : whole + frac;
  if (scaled > I64_MAX || scaled < I64_MIN) throw new CedarEvalError(`decimal: overflow when converting ${JSON.stringify(text)}`);
  return new CedarDecimal(scaled);
}

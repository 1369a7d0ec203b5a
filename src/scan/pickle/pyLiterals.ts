/**
 * Decoders for the text arguments of protocol-0 opcodes (STRING, UNICODE, INT, LONG). Written by
 * hand because they are Python's own repr/raw-unicode-escape rules, not a general format.
 */
export function decodePyStringRepr(line: string): string | null {
  const q = line[0];
  if ((q !== "'" && q !== '"') || line.length < 2 || line[line.length - 1] !== q) return null;
  const body = line.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    switch (n) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case "'": out += "'"; break;
      case '"': out += '"'; break;
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case 'x': {
        const hex = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
        out += String.fromCharCode(parseInt(hex, 16));
        i += 2;
        break;
      }
      default:
        if (n !== undefined && /[0-7]/.test(n)) {
          const m = /^[0-7]{1,3}/.exec(body.slice(i))![0];
          out += String.fromCharCode(parseInt(m, 8) & 0xff);
          i += m.length - 1;
        } else {
          out += '\\' + (n ?? '');
        }
    }
  }
  return out;
}

export function decodeRawUnicodeEscape(latin1: string): string {
  return latin1.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) =>
    String.fromCodePoint(parseInt((u4 ?? u8)!, 16)),
  );
}

/**
 * INT / LONG / PUT / GET text arguments with Python's own `int()` rules: surrounding whitespace,
 * a sign, `_` between digits, and with `base0` (INT, LONG) the 0x/0o/0b prefixes. Being as
 * lenient as Python matters: a stricter parser would stop scanning where the loader goes on.
 */
export function parsePyInt(text: string, base0 = true): number | bigint | boolean | null {
  if (base0 && text === '01') return true; // INT's protocol-0 booleans
  if (base0 && text === '00') return false;
  let t = text.trim();
  if (t.endsWith('L')) t = t.slice(0, -1);
  const m = /^([+-]?)(.*)$/s.exec(t)!;
  const negative = m[1] === '-';
  const body = m[2]!;
  const valid = base0
    ? /^(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?0)*|[1-9](_?[0-9])*)$/.test(body)
    : /^[0-9](_?[0-9])*$/.test(body);
  if (!valid) return null;
  let big = BigInt(body.replace(/_/g, '').replace(/^0+(?=\d)/, ''));
  if (negative) big = -big;
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** LONG1/LONG4 payload: little-endian two's complement. */
export function decodeLong(bytes: Buffer): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

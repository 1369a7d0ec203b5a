/** A Python literal as `ast.literal_eval` would build it (what NumPy uses for .npy headers). */
export type PyLiteral = string | number | boolean | null | PyLiteral[] | { tuple: PyLiteral[] } | Map<string, PyLiteral>;

export class PyLiteralError extends Error {}

const MAX_DEPTH = 32;

/**
 * Parses the subset of Python literals that .npy headers use: dicts, tuples, lists, strings,
 * integers, True/False/None. Dict keys repeat the way Python's do: the last one wins, which is
 * what a regex taking the first match got wrong.
 */
export function parsePyLiteral(text: string): PyLiteral {
  let i = 0;
  const fail = (msg: string): never => {
    throw new PyLiteralError(`${msg} at character ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r\f\v'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const q = text[i]!;
    let out = '';
    for (i++; i < text.length && text[i] !== q; i++) {
      const c = text[i]!;
      if (c === '\n') fail('newline in string');
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[++i];
      const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', '0': '\0' };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
        out += String.fromCharCode(Number.parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) {
        out += String.fromCharCode(Number.parseInt(text.slice(i + 1, i + 5), 16));
        i += 4;
      } else fail('unsupported escape');
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    return out;
  };
  const seq = (close: string, depth: number): PyLiteral[] => {
    const items: PyLiteral[] = [];
    i++;
    for (;;) {
      ws();
      if (text[i] === close) break;
      items.push(value(depth + 1));
      ws();
      if (text[i] === ',') i++;
      else if (text[i] !== close) fail(`expected , or ${close}`);
    }
    i++;
    return items;
  };
  const value = (depth: number): PyLiteral => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (c === '(') {
      const items = seq(')', depth);
      return { tuple: items };
    }
    if (c === '[') return seq(']', depth);
    if (c === '{') {
      const map = new Map<string, PyLiteral>();
      i++;
      for (;;) {
        ws();
        if (text[i] === '}') break;
        const key = value(depth + 1);
        if (typeof key !== 'string') fail('dict key is not a string');
        ws();
        if (text[i] !== ':') fail('expected :');
        i++;
        map.set(key as string, value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail('expected , or }');
      }
      i++;
      return map;
    }
    const word = /^(?:True|False|None|[+-]?\d+L?)/.exec(text.slice(i, i + 40))?.[0];
    if (!word) return fail('unexpected character');
    i += word.length;
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    const n = Number.parseInt(word, 10);
    if (!Number.isSafeInteger(n)) fail('integer out of range');
    return n;
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

import { foldKey } from '../validate/foldKey.js';

export interface JsonScan {
  tooDeep: boolean;
  /** The first object key that appears twice in one object (decoded and folded, see foldKey), or null. */
  duplicateKey: string | null;
}

const WS = new Set([32, 9, 10, 13]);
/** Keys an object keeps in a list; past this a Set (a list is faster for the usual small objects, quadratic for a huge one). */
const LIST_KEYS = 16;

/**
 * One pass over a request body before JSON.parse: nesting depth and duplicate object keys.
 * Duplicate keys are refused because parsers disagree on which one wins (JSON.parse keeps the
 * last; others keep the first or fail): the gateway would authorize, route and inspect one value
 * while the model server acted on another. RFC 7493 (I-JSON) forbids them for this reason.
 * Keys are compared folded (foldKey): "model" and "Model" are two keys to JSON.parse but one to
 * a Go model server, which would act on whichever came last.
 * Hand-written: JSON.parse hides duplicates, and a full streaming parser costs several times
 * this scan on every request. It needs to be exact for valid JSON only (JSON.parse still
 * validates) and bounded and throw-free for anything else.
 */
export function scanJson(text: string, maxDepth: number): JsonScan {
  // Per open container: the keys seen so far (objects) or null (arrays).
  const open: (string[] | Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      i = closingQuote(text, i + 1);
      const keys = open.length > 0 ? open[open.length - 1] : null;
      if (!keys) continue;
      let j = i + 1;
      while (j < text.length && WS.has(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) !== 58 /* : */) continue;
      const raw = text.slice(start + 1, i);
      const decoded = raw.includes('\\') ? decodeKey(`"${raw}"`) : raw;
      if (decoded === null) continue;
      const key = foldKey(decoded);
      if (Array.isArray(keys)) {
        if (keys.includes(key)) return { tooDeep: false, duplicateKey: key };
        if (keys.length < LIST_KEYS) keys.push(key);
        else open[open.length - 1] = new Set(keys).add(key);
      } else {
        if (keys.has(key)) return { tooDeep: false, duplicateKey: key };
        keys.add(key);
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      open.push(c === 123 ? [] : null);
      if (open.length > maxDepth) return { tooDeep: true, duplicateKey: null };
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      open.pop();
    }
  }
  return { tooDeep: false, duplicateKey: null };
}

/** Index of the quote that ends the string whose body starts at `from` (text.length if none); indexOf keeps long strings cheap. */
function closingQuote(text: string, from: number): number {
  for (let q = text.indexOf('"', from); q !== -1; q = text.indexOf('"', q + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return q;
  }
  return text.length;
}

/** "mo\u0064el" and "model" are the same key. */
function decodeKey(quoted: string): string | null {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return null;
  }
}

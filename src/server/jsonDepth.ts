/**
 * The deepest JSON nesting the admin API accepts in a request body. Deeper bodies are refused
 * before they are parsed: a value nested 100 000 levels deep parses, but every recursive walk
 * after that (Cedar context conversion, reply serialisation) overflows the stack (a 500).
 */
export const MAX_ADMIN_JSON_DEPTH = 64;

/**
 * Whether `text` opens more than `max` arrays or objects inside one another. A linear scan that
 * skips strings (escapes included), never throws and needs no stack; exact for valid JSON
 * (JSON.parse still validates the rest).
 */
export function jsonDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true;
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      depth--;
    }
  }
  return false;
}

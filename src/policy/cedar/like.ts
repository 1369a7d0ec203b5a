/**
 * Cedar `like`: `*` matches any sequence, everything else is literal. Compiled to segment
 * matching (linear, no regex backtracking on attacker-controlled strings).
 */
export type PatternElem = 'Wildcard' | { Literal: string };

export function compileLike(pattern: readonly PatternElem[]): (s: string) => boolean {
  const segments: string[] = [''];
  for (const e of pattern) {
    if (e === 'Wildcard') segments.push('');
    else segments[segments.length - 1] += e.Literal;
  }
  if (segments.length === 1) {
    const exact = segments[0]!;
    return (s) => s === exact;
  }
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((x) => x.length > 0);
  return (s) => {
    if (s.length < first.length + last.length) return false;
    if (!s.startsWith(first) || !s.endsWith(last)) return false;
    let pos = first.length;
    const end = s.length - last.length;
    for (const m of middle) {
      const at = s.indexOf(m, pos);
      if (at < 0 || at + m.length > end) return false;
      pos = at + m.length;
    }
    return true;
  };
}

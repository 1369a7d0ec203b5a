/** Nesting the output guards follow in a JSON value; a deeper value is the caller's `tooDeep`. */
export const MAX_GUARDED_DEPTH = 64;

/**
 * Guards every string and key in a parsed JSON value (error answers, streamed events without
 * choices); returns the same object when nothing changed. A value nested deeper than
 * MAX_GUARDED_DEPTH is replaced by what `tooDeep` returns (or it throws).
 */
export function guardStrings(value: unknown, guard: (text: string) => string, tooDeep: () => unknown, depth = 0): unknown {
  if (typeof value === 'string') return guard(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_GUARDED_DEPTH) return tooDeep();
  let changed = false;
  if (Array.isArray(value)) {
    const out = value.map((v) => {
      const g = guardStrings(v, guard, tooDeep, depth + 1);
      if (g !== v) changed = true;
      return g;
    });
    return changed ? out : value;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const g = guardStrings(v, guard, tooDeep, depth + 1);
    const key = guard(k);
    if (g !== v || key !== k) changed = true;
    out[key] = g;
  }
  return changed ? out : value;
}

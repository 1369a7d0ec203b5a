import { severities, type Severity } from './types.js';

const rank: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1, info: 0 };

export function severityRank(s: Severity): number {
  return rank[s];
}

export function isSeverity(value: string): value is Severity {
  return (severities as readonly string[]).includes(value);
}

/** True when `s` is at or above `threshold`. */
export function atOrAbove(s: Severity, threshold: Severity): boolean {
  return rank[s] >= rank[threshold];
}

export function maxSeverity(list: readonly Severity[]): Severity | null {
  let best: Severity | null = null;
  for (const s of list) if (best === null || rank[s] > rank[best]) best = s;
  return best;
}

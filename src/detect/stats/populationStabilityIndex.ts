/** Share given to an empty bin so the log stays finite (the usual PSI convention). */
const EPSILON = 1e-4;

/**
 * Population Stability Index between expected and actual bin shares:
 * Σ (a − e) · ln(a / e). Below 0.1 stable, 0.1–0.25 moderate shift, above 0.25 major shift.
 */
export function populationStabilityIndex(expected: ArrayLike<number>, actual: ArrayLike<number>): number {
  if (expected.length !== actual.length) throw new RangeError('PSI needs the same number of bins on both sides');
  let psi = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]!, EPSILON);
    const a = Math.max(actual[i]!, EPSILON);
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}

/** Index of the bin `x` falls in, given ascending inner edges (k edges → k + 1 bins). */
export function binIndex(edges: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

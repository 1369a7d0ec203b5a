import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';

export interface ShapiroWilkResult {
  /** The W statistic in (0, 1]; small W means the sample is not normal. */
  w: number;
  /** Royston's approximation of the p-value. */
  p: number;
}

// Royston (1995), Algorithm AS R94 — the same coefficients R's shapiro.test and scipy use.
// Written by hand because no maintained JS package implements Shapiro–Wilk; checked against
// scipy.stats.shapiro vectors in test/detect/stats.test.ts.
const C1 = [0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056];
const C2 = [0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
const C3 = [0.544, -0.39978, 0.025054, -6.714e-4];
const C4 = [1.3822, -0.77857, 0.062767, -0.0020322];
const C5 = [-1.5861, -0.31082, -0.083751, 0.0038915];
const C6 = [-0.4803, -0.082676, 0.0030302];
const G = [-2.273, 0.459];

function poly(c: readonly number[], x: number): number {
  let r = 0;
  for (let i = c.length - 1; i >= 0; i--) r = r * x + c[i]!;
  return r;
}

const coefficientCache = new Map<number, Float64Array>();

/** Shapiro–Wilk coefficients a_1..a_{n/2} for sample size n (cached: PRADA calls this per query). */
function coefficients(n: number): Float64Array {
  let a = coefficientCache.get(n);
  if (a) return a;
  const half = Math.floor(n / 2);
  a = new Float64Array(half);
  if (n === 3) {
    a[0] = Math.SQRT1_2;
  } else {
    const m = new Float64Array(half);
    let summ2 = 0;
    for (let i = 0; i < half; i++) {
      // Expected normal order statistics, largest first (positive).
      m[i] = -normalQuantile((i + 1 - 0.375) / (n + 0.25), 0, 1);
      summ2 += m[i]! * m[i]!;
    }
    summ2 *= 2;
    const ssumm2 = Math.sqrt(summ2);
    const rsn = 1 / Math.sqrt(n);
    const a1 = m[0]! / ssumm2 + poly(C1, rsn);
    let first: number;
    let fac: number;
    if (n > 5) {
      first = 2;
      const a2 = m[1]! / ssumm2 + poly(C2, rsn);
      fac = Math.sqrt((summ2 - 2 * m[0]! ** 2 - 2 * m[1]! ** 2) / (1 - 2 * a1 ** 2 - 2 * a2 ** 2));
      a[1] = a2;
    } else {
      first = 1;
      fac = Math.sqrt((summ2 - 2 * m[0]! ** 2) / (1 - 2 * a1 ** 2));
    }
    a[0] = a1;
    for (let i = first; i < half; i++) a[i] = m[i]! / fac;
  }
  if (coefficientCache.size > 512) coefficientCache.clear();
  coefficientCache.set(n, a);
  return a;
}

/**
 * Shapiro–Wilk normality test for 3 ≤ n ≤ 5000 values. `sorted` must be in ascending order.
 * Returns W = 1, p = 1 for a constant sample (no evidence against normality to act on).
 */
export function shapiroWilkSorted(sorted: ArrayLike<number>, n = sorted.length): ShapiroWilkResult {
  if (n < 3 || n > 5000) throw new RangeError('Shapiro–Wilk needs between 3 and 5000 values');
  const range = sorted[n - 1]! - sorted[0]!;
  if (!(range > 1e-19)) return { w: 1, p: 1 };
  const a = coefficients(n);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += sorted[i]!;
  mean /= n;
  let ssq = 0;
  for (let i = 0; i < n; i++) ssq += (sorted[i]! - mean) ** 2;
  let b = 0;
  for (let i = 0; i < a.length; i++) b += a[i]! * (sorted[n - 1 - i]! - sorted[i]!);
  const w = Math.min(1, (b * b) / ssq);
  return { w, p: shapiroWilkPValue(w, n) };
}

export function shapiroWilk(values: readonly number[]): ShapiroWilkResult {
  const sorted = Float64Array.from(values).sort();
  return shapiroWilkSorted(sorted);
}

function shapiroWilkPValue(w: number, n: number): number {
  if (n === 3) {
    const p = (6 / Math.PI) * (Math.asin(Math.sqrt(w)) - Math.PI / 3);
    return Math.max(0, Math.min(1, p));
  }
  const w1 = 1 - w;
  if (w1 <= 0) return 1;
  let y = Math.log(w1);
  let m: number;
  let s: number;
  if (n <= 11) {
    const gamma = poly(G, n);
    if (y >= gamma) return 1e-99;
    y = -Math.log(gamma - y);
    m = poly(C3, n);
    s = Math.exp(poly(C4, n));
  } else {
    const lnN = Math.log(n);
    m = poly(C5, lnN);
    s = Math.exp(poly(C6, lnN));
  }
  return 1 - normalCdf((y - m) / s, 0, 1);
}

export interface KsResult {
  /** Largest distance between the two empirical CDFs, in [0, 1]. */
  d: number;
  /** Asymptotic p-value (Kolmogorov distribution of sqrt(n·m/(n+m))·D). */
  p: number;
}

/** Survival function of the Kolmogorov distribution (the limit law of sqrt(n)·D). */
export function kolmogorovSurvival(z: number): number {
  if (z <= 0) return 1;
  if (z < 0.27) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * z * z);
    sum += (k % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-16) break;
  }
  return Math.max(0, Math.min(1, 2 * sum));
}

/**
 * Two-sample Kolmogorov–Smirnov test on two ascending-sorted samples. Written by hand: it is a
 * merge walk over two sorted arrays that the drift monitor runs on every window, with no allocation.
 */
export function ksTwoSampleSorted(a: ArrayLike<number>, b: ArrayLike<number>, na = a.length, nb = b.length): KsResult {
  if (na === 0 || nb === 0) return { d: 0, p: 1 };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < na && j < nb) {
    const x = Math.min(a[i]!, b[j]!);
    while (i < na && a[i]! <= x) i++;
    while (j < nb && b[j]! <= x) j++;
    const diff = Math.abs(i / na - j / nb);
    if (diff > d) d = diff;
  }
  const en = (na * nb) / (na + nb);
  return { d, p: kolmogorovSurvival(Math.sqrt(en) * d) };
}

export function ksTwoSample(a: readonly number[], b: readonly number[]): KsResult {
  return ksTwoSampleSorted(Float64Array.from(a).sort(), Float64Array.from(b).sort());
}

import { shapiroWilkSorted } from '../stats/shapiroWilk.js';

export interface PradaOptions {
  /** Alarm when Shapiro–Wilk W of the distance set drops below delta. */
  delta: number;
  /** Distances needed before the test runs. */
  minQueries: number;
  /** Most recent distances kept. */
  window: number;
  /** Largest growing set per class (bounds memory and per-query work). */
  maxGrowingSet?: number;
}

export interface PradaResult {
  /** Latest W, once at least minQueries distances were seen. */
  w: number | undefined;
  queries: number;
  alarm: boolean;
}

class ClassSet {
  vectors: Float64Array;
  size = 0;
  threshold = 0;
  sum = 0;
  sumSq = 0;
  constructor(
    readonly d: number,
    capacity: number,
  ) {
    this.vectors = new Float64Array(d * capacity);
  }
}

/**
 * PRADA (Juuti et al., EuroS&P 2019), for one principal and model. Benign queries of a class lie
 * at roughly normally distributed distances from each other; synthetic extraction queries
 * (Jacobian augmentation, random or equation-solving points) do not. Written by hand: it is the
 * detector itself, and no library implements it.
 */
export class PradaDetector {
  private readonly classes = new Map<number, ClassSet>();
  private readonly distances: Float64Array;
  private readonly sorted: Float64Array;
  private count = 0;
  private next = 0;
  private queries = 0;
  private lastW: number | undefined;
  private readonly maxGrowing: number;

  constructor(
    private readonly options: PradaOptions,
    /** Per-feature scale (training std) so that every feature weighs the same in L2. */
    private readonly scale?: ArrayLike<number>,
  ) {
    this.distances = new Float64Array(options.window);
    this.sorted = new Float64Array(options.window);
    this.maxGrowing = options.maxGrowingSet ?? 2048;
  }

  /** Feeds one query with the class the model predicted for it. */
  observe(x: ArrayLike<number>, label: number): PradaResult {
    const d = x.length;
    this.queries++;
    let set = this.classes.get(label);
    if (!set) {
      if (this.classes.size >= 1024) return this.result(false);
      this.classes.set(label, (set = new ClassSet(d, 16)));
    }
    if (set.d !== d) return this.result(false);
    if (set.size === 0) {
      this.addToSet(set, x);
      return this.result(false);
    }
    let min = Infinity;
    const v = set.vectors;
    for (let k = 0; k < set.size; k++) {
      let s = 0;
      const off = k * d;
      for (let j = 0; j < d; j++) {
        const diff = (x[j]! - v[off + j]!) / (this.scale ? this.scale[j]! || 1 : 1);
        s += diff * diff;
      }
      if (s < min) min = s;
    }
    const dmin = Math.sqrt(min);
    // A repeat of an earlier query teaches an attacker nothing; caching clients repeat queries.
    if (dmin === 0) return this.result(this.lastW !== undefined && this.lastW < this.options.delta);
    this.distances[this.next] = dmin;
    this.next = (this.next + 1) % this.options.window;
    if (this.count < this.options.window) this.count++;
    if (dmin > set.threshold && set.size < this.maxGrowing) {
      this.addToSet(set, x);
      set.sum += dmin;
      set.sumSq += dmin * dmin;
      const n = set.size - 1;
      const mean = set.sum / n;
      const std = Math.sqrt(Math.max(0, set.sumSq / n - mean * mean));
      set.threshold = Math.max(set.threshold, mean - std);
    }
    if (this.count < this.options.minQueries) return this.result(false);
    this.lastW = this.testNormality();
    return this.result(this.lastW < this.options.delta);
  }

  private result(alarm: boolean): PradaResult {
    return { w: this.lastW, queries: this.queries, alarm };
  }

  private addToSet(set: ClassSet, x: ArrayLike<number>): void {
    if ((set.size + 1) * set.d > set.vectors.length) {
      const grown = new Float64Array(set.vectors.length * 2);
      grown.set(set.vectors);
      set.vectors = grown;
    }
    for (let j = 0; j < set.d; j++) set.vectors[set.size * set.d + j] = x[j]!;
    set.size++;
  }

  /** W of the distance set after dropping values beyond 3 standard deviations (as PRADA does). */
  private testNormality(): number {
    const n = this.count;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += this.distances[i]!;
    mean /= n;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += (this.distances[i]! - mean) ** 2;
    const std = Math.sqrt(sq / n);
    let m = 0;
    for (let i = 0; i < n; i++) {
      const v = this.distances[i]!;
      if (Math.abs(v - mean) <= 3 * std) this.sorted[m++] = v;
    }
    if (m < 3) return 1;
    const view = this.sorted.subarray(0, m);
    view.sort();
    return shapiroWilkSorted(view, m).w;
  }
}

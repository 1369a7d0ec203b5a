import { Matrix, pseudoInverse } from 'ml-matrix';
import { WardenError } from '../../errors/index.js';
import { featureProfileSchema, type FeatureProfile } from './FeatureProfile.js';

export interface FitProfileOptions {
  featureNames?: string[];
  /** Class label per row: one Gaussian per class makes the OOD check much sharper for multi-modal data. */
  labels?: readonly (string | number)[];
  /** Share of training rows that must fall under the Mahalanobis threshold. */
  calibrationQuantile?: number;
  /** Bins per feature for PSI (quantile bins). */
  bins?: number;
  /** Largest reference sample kept per feature for KS. */
  referenceSize?: number;
  /** Equal-width cells per feature for the coverage (new-region) signal. */
  coverageBins?: number;
}

/** Grid cell of x: bins 1..bins span [min, max]; 0 and bins + 1 hold values outside. */
export function gridCell(min: readonly number[], max: readonly number[], bins: number, x: ArrayLike<number>): number {
  let cell = 0;
  for (let j = 0; j < x.length; j++) {
    const lo = min[j]!;
    const width = (max[j]! - lo) / bins || 1;
    const v = x[j]!;
    const b = v < lo ? 0 : v > max[j]! ? bins + 1 : Math.min(bins, 1 + Math.floor((v - lo) / width));
    cell = (cell * (bins + 2) + b) % 2147483647;
  }
  return cell;
}

const MAX_FEATURES = 4096;

function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

interface Gaussian {
  label?: string | number;
  count: number;
  mean: number[];
  inverseCovariance: number[][];
}

function fitGaussian(rows: readonly (readonly number[])[], d: number, label?: string | number): Gaussian {
  const n = rows.length;
  const mean = new Array<number>(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += r[j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = Matrix.zeros(d, d);
  for (const r of rows) {
    for (let a = 0; a < d; a++) {
      const da = r[a]! - mean[a]!;
      for (let b = a; b < d; b++) cov.set(a, b, cov.get(a, b) + da * (r[b]! - mean[b]!));
    }
  }
  let trace = 0;
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov.get(a, b) / Math.max(1, n - 1);
      cov.set(a, b, v);
      cov.set(b, a, v);
    }
    trace += cov.get(a, a);
  }
  // Ridge keeps the inverse finite for constant or collinear features and for small classes.
  const ridge = Math.max(1e-9, (1e-3 * trace) / d);
  for (let a = 0; a < d; a++) cov.set(a, a, cov.get(a, a) + ridge);
  return { ...(label === undefined ? {} : { label }), count: n, mean, inverseCovariance: pseudoInverse(cov).to2DArray() };
}

function fitGaussians(rows: readonly (readonly number[])[], d: number, labels: readonly (string | number)[] | undefined): Gaussian[] {
  if (!labels) return [fitGaussian(rows, d)];
  const byLabel = new Map<string | number, (readonly number[])[]>();
  rows.forEach((r, i) => {
    const l = labels[i]!;
    let list = byLabel.get(l);
    if (!list) byLabel.set(l, (list = []));
    list.push(r);
  });
  const gaussians = [...byLabel].filter(([, rs]) => rs.length >= 2).map(([l, rs]) => fitGaussian(rs, d, l));
  return gaussians.length > 0 ? gaussians : [fitGaussian(rows, d)];
}

/** Distance of x to the nearest profile Gaussian (Mahalanobis). Allocation-free. */
export function mahalanobis(gaussians: FeatureProfile['gaussians'], x: ArrayLike<number>): number {
  let best = Infinity;
  const d = x.length;
  for (const g of gaussians) {
    let q = 0;
    for (let a = 0; a < d; a++) {
      const da = x[a]! - g.mean[a]!;
      const row = g.inverseCovariance[a]!;
      let s = 0;
      for (let b = 0; b < d; b++) s += row[b]! * (x[b]! - g.mean[b]!);
      q += da * s;
    }
    if (q < best) best = q;
  }
  return Math.sqrt(Math.max(0, best));
}

/** Learns a feature profile from training rows (the offline `profile fit` and the demo start-up use this). */
export function fitProfile(rows: readonly (readonly number[])[], options: FitProfileOptions = {}): FeatureProfile {
  const n = rows.length;
  if (n < 2) throw new WardenError('WARDEN_DETECT_DATA_INVALID', 'at least 2 rows are needed to fit a profile');
  const d = rows[0]!.length;
  if (d < 1 || d > MAX_FEATURES) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `rows must have 1 to ${MAX_FEATURES} features`);
  rows.forEach((r, i) => {
    if (r.length !== d) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `row ${i + 1} has ${r.length} values, expected ${d}`);
    for (const v of r) if (!Number.isFinite(v)) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `row ${i + 1} has a value that is not a finite number`);
  });
  const names = options.featureNames ?? Array.from({ length: d }, (_, j) => `f${j}`);
  if (names.length !== d) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${names.length} feature names for ${d} features`);
  if (options.labels && options.labels.length !== n) throw new WardenError('WARDEN_DETECT_DATA_INVALID', `${options.labels.length} labels for ${n} rows`);
  const quantile = options.calibrationQuantile ?? 0.995;
  const binCount = options.bins ?? 10;
  const refSize = options.referenceSize ?? 1000;

  const columns = Array.from({ length: d }, (_, j) => Float64Array.from(rows, (r) => r[j]!).sort());
  const mean = columns.map((c) => c.reduce((s, v) => s + v, 0) / n);
  const std = columns.map((c, j) => Math.sqrt(c.reduce((s, v) => s + (v - mean[j]!) ** 2, 0) / Math.max(1, n - 1)));

  const gaussians = fitGaussians(rows, d, options.labels);
  // The threshold is calibrated on out-of-fold distances: in-sample distances are optimistic
  // (the Gaussians were fitted to those very rows), which would flag normal unseen inputs.
  const folds = Math.min(5, n);
  const distances = new Float64Array(n);
  for (let f = 0; f < folds; f++) {
    const fitRows: (readonly number[])[] = [];
    const fitLabels: (string | number)[] = [];
    rows.forEach((r, i) => {
      if (i % folds !== f) {
        fitRows.push(r);
        if (options.labels) fitLabels.push(options.labels[i]!);
      }
    });
    const g = fitRows.length >= 2 ? fitGaussians(fitRows, d, options.labels ? fitLabels : undefined) : gaussians;
    for (let i = f; i < n; i += folds) distances[i] = mahalanobis(g, rows[i]!);
  }
  distances.sort();

  const bins = columns.map((c) => {
    const edges: number[] = [];
    for (let k = 1; k < binCount; k++) {
      const e = quantileSorted(c, k / binCount);
      if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
    }
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const v of c) {
      let b = 0;
      while (b < edges.length && v >= edges[b]!) b++;
      counts[b]!++;
    }
    return { edges, shares: counts.map((k) => k / n) };
  });
  const reference = columns.map((c) => {
    if (c.length <= refSize) return Array.from(c);
    return Array.from({ length: refSize }, (_, k) => c[Math.floor((k * (c.length - 1)) / (refSize - 1))]!);
  });

  const coverageBins = options.coverageBins ?? 5;
  const mins = columns.map((c) => c[0]!);
  const maxs = columns.map((c) => c[n - 1]!);
  const occupied = new Set<number>();
  for (const r of rows) occupied.add(gridCell(mins, maxs, coverageBins, r));

  return featureProfileSchema.parse({
    version: 1,
    features: names,
    count: n,
    min: columns.map((c) => c[0]!),
    max: columns.map((c) => c[n - 1]!),
    mean,
    std,
    gaussians,
    mahalanobisThreshold: quantileSorted(distances, quantile),
    calibrationQuantile: quantile,
    bins,
    coverage: { bins: coverageBins, occupiedCells: occupied.size },
    reference,
  });
}

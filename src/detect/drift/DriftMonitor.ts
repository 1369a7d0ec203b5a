import type { FeatureProfile } from '../profile/FeatureProfile.js';
import { populationStabilityIndex, binIndex } from '../stats/populationStabilityIndex.js';
import { ksTwoSampleSorted } from '../stats/ksTwoSample.js';

export interface DriftOptions {
  window: number;
  every: number;
  psiAlarm: number;
  ksPValue: number;
}

export interface FeatureDrift {
  feature: string;
  psi: number;
  ks: number;
  ksP: number;
}

export interface DriftReport {
  samples: number;
  features: FeatureDrift[];
  drifted: string[];
}

/**
 * Rolling PSI and two-sample KS per feature between the last `window` inputs of a model and its
 * training profile. Recomputed every `every` inputs so the request path only appends to a ring.
 */
export class DriftMonitor {
  private readonly ring: Float64Array[];
  private size = 0;
  private next = 0;
  private sinceReport = 0;
  private lastReport: DriftReport | undefined;
  private readonly scratch: Float64Array;
  private readonly refs: Float64Array[];

  constructor(
    readonly profile: FeatureProfile,
    private readonly options: DriftOptions,
  ) {
    this.ring = profile.features.map(() => new Float64Array(options.window));
    this.scratch = new Float64Array(options.window);
    this.refs = profile.reference.map((r) => Float64Array.from(r));
  }

  /** Adds one input; returns a fresh report when one was due, else undefined. */
  add(x: ArrayLike<number>): DriftReport | undefined {
    for (let j = 0; j < this.ring.length; j++) this.ring[j]![this.next] = x[j]!;
    this.next = (this.next + 1) % this.options.window;
    if (this.size < this.options.window) this.size++;
    this.sinceReport++;
    const minSamples = Math.min(this.options.window, 100);
    if (this.size < minSamples || this.sinceReport < this.options.every) return undefined;
    this.sinceReport = 0;
    this.lastReport = this.compute();
    return this.lastReport;
  }

  get report(): DriftReport | undefined {
    return this.lastReport;
  }

  private compute(): DriftReport {
    const n = this.size;
    const features: FeatureDrift[] = [];
    const drifted: string[] = [];
    for (let j = 0; j < this.ring.length; j++) {
      const values = this.scratch.subarray(0, n);
      values.set(this.ring[j]!.subarray(0, n));
      values.sort();
      const bins = this.profile.bins[j]!;
      const counts = new Float64Array(bins.shares.length);
      for (let i = 0; i < n; i++) counts[binIndex(bins.edges, values[i]!)]!++;
      // Laplace smoothing: an empty bin in a small window is sampling noise, not infinite drift.
      for (let b = 0; b < counts.length; b++) counts[b] = (counts[b]! + 0.5) / (n + 0.5 * counts.length);
      const psi = populationStabilityIndex(bins.shares, counts);
      const ks = ksTwoSampleSorted(values, this.refs[j]!);
      const name = this.profile.features[j]!;
      features.push({ feature: name, psi, ks: ks.d, ksP: ks.p });
      if (psi > this.options.psiAlarm && ks.p < this.options.ksPValue) drifted.push(name);
    }
    return { samples: n, features, drifted };
  }
}

import { WardenError } from '../../errors/index.js';
import type { FeatureProfile } from '../profile/FeatureProfile.js';
import { mahalanobis } from '../profile/fitProfile.js';

export interface OodCheck {
  /** Features outside the training range (with tolerance). */
  rangeViolations: number;
  /** Mahalanobis distance to the nearest profile Gaussian. */
  distance: number;
  /** distance / threshold: above 1 is out of distribution. */
  score: number;
  ood: boolean;
}

export interface OodOptions {
  rangeTolerance: number;
  thresholdScale: number;
}

/** Per-request range and Mahalanobis checks against a feature profile. */
export class OodDetector {
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private readonly threshold: number;

  constructor(
    readonly profile: FeatureProfile,
    options: OodOptions,
  ) {
    const d = profile.features.length;
    this.lo = new Float64Array(d);
    this.hi = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      const slack = (profile.max[j]! - profile.min[j]!) * options.rangeTolerance;
      this.lo[j] = profile.min[j]! - slack;
      this.hi[j] = profile.max[j]! + slack;
    }
    this.threshold = profile.mahalanobisThreshold * options.thresholdScale;
  }

  get dimensions(): number {
    return this.lo.length;
  }

  check(x: ArrayLike<number>): OodCheck {
    if (x.length !== this.lo.length) {
      throw new WardenError('WARDEN_DETECT_INPUT_SHAPE', `the input has ${x.length} features, the profile ${this.lo.length}`);
    }
    let rangeViolations = 0;
    for (let j = 0; j < x.length; j++) if (!(x[j]! >= this.lo[j]! && x[j]! <= this.hi[j]!)) rangeViolations++;
    const distance = mahalanobis(this.profile.gaussians, x);
    const score = distance / this.threshold;
    return { rangeViolations, distance, score, ood: rangeViolations > 0 || score > 1 };
  }
}

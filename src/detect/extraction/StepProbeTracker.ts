/** Two step sizes are the same when they differ by less than this share (JSON round trips, float sums). */
const SAME_STEP = 1e-6;

/**
 * Sign-step probes: a query that equals one of the principal's recent queries moved by the same
 * amount λ in every feature (x' = x ± λ, a corner of the L∞ ball around x) is what Jacobian-based
 * augmentation (Papernot et al.) and FGSM-style probing send; a sweep of them with one λ is
 * automation. Real rows almost never differ from each other by exactly the same non-zero amount in
 * every feature (8 of 11,175 iris row pairs, all in different magnitudes than one attack's λ).
 * The step is checked in raw units and in training-std units (attackers that scale λ per feature).
 * Written by hand: it is one of the product's detectors.
 */
export class StepProbeTracker {
  private readonly recent: (Float64Array | undefined)[];
  private readonly stepSizes: Float64Array;
  private next = 0;

  constructor(
    private readonly window: number,
    private readonly scale: ArrayLike<number> | undefined,
  ) {
    this.recent = new Array<Float64Array | undefined>(window);
    this.stepSizes = new Float64Array(window);
  }

  /** Records one query; returns how many recent queries (this one included) were probes of its step size (0 if it is none). */
  observe(x: ArrayLike<number>): number {
    let step = 0;
    for (const earlier of this.recent) {
      if (earlier && earlier.length === x.length) step = stepBetween(x, earlier, undefined) || (this.scale ? stepBetween(x, earlier, this.scale) : 0);
      if (step > 0) break;
    }
    this.recent[this.next] = Float64Array.from(x);
    this.stepSizes[this.next] = step;
    this.next = (this.next + 1) % this.window;
    if (step === 0) return 0;
    let same = 0;
    for (const s of this.stepSizes) if (s > 0 && Math.abs(s - step) <= SAME_STEP * step) same++;
    return same;
  }
}

/** λ when every feature of a differs from b by the same non-zero λ (in units of scale, if given), else 0. */
function stepBetween(a: ArrayLike<number>, b: ArrayLike<number>, scale: ArrayLike<number> | undefined): number {
  let step = -1;
  for (let j = 0; j < a.length; j++) {
    const d = Math.abs(a[j]! - b[j]!) / (scale ? scale[j]! || 1 : 1);
    if (d === 0 || !Number.isFinite(d)) return 0;
    if (step < 0) step = d;
    else if (Math.abs(d - step) > SAME_STEP * step) return 0;
  }
  return a.length > 1 && step > 0 ? step : 0;
}

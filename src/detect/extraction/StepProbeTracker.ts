/**
 * Rounding allowed per value: clients that compute in float32 (numpy, FP32 tensors) send values
 * rounded to float32 (relative error 2^-24 ≈ 6·10⁻⁸), so a probe's per-feature differences agree
 * only to ~10⁻⁶ of the values.
 */
const VALUE_ROUNDING = 1e-6;
/** Two probes share a step size when their steps differ by less than this share. */
const SAME_STEP = 1e-3;

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
    // A sweep x, x+λ, x+2λ is a λ-step from its predecessor and a 2λ-step from the one before:
    // keep the step that continues the most earlier probes.
    let step = 0;
    let best = 0;
    for (const earlier of this.recent) {
      if (!earlier || earlier.length !== x.length) continue;
      const s = stepBetween(x, earlier, undefined) || (this.scale ? stepBetween(x, earlier, this.scale) : 0);
      if (s === 0) continue;
      const count = 1 + this.probesOf(s);
      if (count > best) {
        best = count;
        step = s;
      }
    }
    this.recent[this.next] = Float64Array.from(x);
    this.stepSizes[this.next] = step;
    this.next = (this.next + 1) % this.window;
    return best;
  }

  private probesOf(step: number): number {
    let n = 0;
    for (const s of this.stepSizes) if (s > 0 && Math.abs(s - step) <= SAME_STEP * step) n++;
    return n;
  }
}

/** λ when every feature of a differs from b by the same non-zero λ (in units of scale, if given), else 0. */
function stepBetween(a: ArrayLike<number>, b: ArrayLike<number>, scale: ArrayLike<number> | undefined): number {
  if (a.length < 2) return 0;
  let step = 0;
  let stepTolerance = 0;
  for (let j = 0; j < a.length; j++) {
    const unit = scale ? scale[j]! || 1 : 1;
    const d = Math.abs(a[j]! - b[j]!) / unit;
    const tolerance = (VALUE_ROUNDING * (Math.abs(a[j]!) + Math.abs(b[j]!))) / unit;
    if (!Number.isFinite(d) || d <= tolerance) return 0;
    if (j === 0) {
      step = d;
      stepTolerance = tolerance;
    } else if (Math.abs(d - step) > tolerance + stepTolerance) return 0;
  }
  return step;
}

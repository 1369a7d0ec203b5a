import type { FeatureProfile } from '../profile/FeatureProfile.js';
import type { DetectorEvent } from '../types.js';
import { PradaDetector } from './PradaDetector.js';
import { gridCell } from '../profile/fitProfile.js';
import { StepProbeTracker } from './StepProbeTracker.js';
import { lruAdd, lruGet } from '../lruMap.js';

export interface ExtractionOptions {
  delta: number;
  minQueries: number;
  window: number;
  oodAlarmCount: number;
  oodWindow: number;
  budgetQueries: number;
  budgetWindowSeconds: number;
  coverageFactor: number;
  maxPrincipals: number;
  /** Sign-step probes of one step size within the last `stepProbeWindow` queries that raise an alarm; 0 disables. */
  stepProbeCount: number;
  stepProbeWindow: number;
}

export type ExtractionSignal = 'prada' | 'ood-rate' | 'new-region' | 'step-probe';

export interface ExtractionStatus {
  /** The principal is flagged as extracting (latched until reset). */
  alarmed: boolean;
  overBudget: boolean;
}

const MAX_CELLS = 65_536;

class PrincipalState {
  readonly prada: PradaDetector;
  readonly oodRing: Uint8Array;
  oodNext = 0;
  oodCount = 0;
  readonly cells = new Set<number>();
  queries = 0;
  budgetStart = 0;
  budgetUsed = 0;
  alarmed = false;
  readonly steps: StepProbeTracker | null;
  constructor(options: ExtractionOptions, scale: ArrayLike<number> | undefined) {
    this.prada = new PradaDetector({ delta: options.delta, minQueries: options.minQueries, window: options.window }, scale);
    this.oodRing = new Uint8Array(options.oodWindow);
    this.steps = options.stepProbeCount > 0 ? new StepProbeTracker(options.stepProbeWindow, scale) : null;
  }
}

/**
 * Model-extraction signals per principal for one model: PRADA on predicted classes, the rate of
 * out-of-distribution queries, sign-step probes (synthetic points at x ± λ in every feature, as Jacobian
 * augmentation and FGSM-style probing make them), feature-space coverage (new regions visited, as in
 * Kesarwani et al.'s extraction monitor, against the cells the training data occupies), and a query budget. The first signal to fire raises one alarm (`detector.alarm`) and latches.
 */
export class ExtractionGuard {
  private readonly principals = new Map<string, PrincipalState>();

  constructor(
    readonly model: string,
    private readonly options: ExtractionOptions,
    private readonly profile: FeatureProfile | undefined,
    private readonly emit: (event: DetectorEvent) => void,
    private readonly now: () => number = Date.now,
  ) {}

  private state(principal: string): PrincipalState {
    return lruGet(this.principals, principal) ?? lruAdd(this.principals, principal, new PrincipalState(this.options, this.profile?.std), this.options.maxPrincipals);
  }

  /** Spends `n` queries of the principal's budget (its window restarts once elapsed). */
  private spend(s: PrincipalState, n: number): void {
    const t = this.now();
    if (t - s.budgetStart >= this.options.budgetWindowSeconds * 1000) {
      s.budgetStart = t;
      s.budgetUsed = 0;
    }
    s.budgetUsed += n;
    s.queries += n;
  }

  private overBudget(s: PrincipalState): boolean {
    return this.options.budgetQueries > 0 && s.budgetUsed > this.options.budgetQueries;
  }

  /**
   * Queries the row signals cannot read (images, text tensors: no [N, features] table): they still
   * spend the query budget, or a model would be free to extract through any input that is not a table.
   */
  countOpaqueQueries(principal: string, n: number): ExtractionStatus {
    const s = this.state(principal);
    this.spend(s, n);
    return { alarmed: s.alarmed, overBudget: this.overBudget(s) };
  }

  /** Before the upstream call: budget, OOD rate and new-region rate for one input row. */
  observeQuery(principal: string, x: ArrayLike<number>, ood: boolean): ExtractionStatus {
    const s = this.state(principal);
    const o = this.options;
    this.spend(s, 1);

    s.oodCount += (ood ? 1 : 0) - s.oodRing[s.oodNext]!;
    s.oodRing[s.oodNext] = ood ? 1 : 0;
    s.oodNext = (s.oodNext + 1) % s.oodRing.length;

    const p = this.profile;
    if (p && s.cells.size < MAX_CELLS) s.cells.add(gridCell(p.min, p.max, p.coverage.bins, x));

    const steps = s.steps?.observe(x) ?? 0;

    if (!s.alarmed) {
      if (steps > 0 && steps >= o.stepProbeCount) this.raise(principal, s, 'step-probe', { probes: steps, window: o.stepProbeWindow });
      else if (s.oodCount >= o.oodAlarmCount) this.raise(principal, s, 'ood-rate', { oodQueries: s.oodCount, window: o.oodWindow });
      else if (p && s.cells.size > o.coverageFactor * p.coverage.occupiedCells) {
        this.raise(principal, s, 'new-region', { cells: s.cells.size, trainingCells: p.coverage.occupiedCells, coverageFactor: o.coverageFactor });
      }
    }
    return { alarmed: s.alarmed, overBudget: this.overBudget(s) };
  }

  /** After the upstream answered: PRADA needs the predicted class. */
  observePrediction(principal: string, x: ArrayLike<number>, label: number): ExtractionStatus {
    const s = this.state(principal);
    const r = s.prada.observe(x, label);
    if (r.alarm && !s.alarmed) this.raise(principal, s, 'prada', { w: r.w ?? 1, delta: this.options.delta });
    return { alarmed: s.alarmed, overBudget: this.overBudget(s) };
  }

  status(principal: string): ExtractionStatus & { queries: number } {
    const s = this.principals.get(principal);
    return { alarmed: s?.alarmed ?? false, overBudget: false, queries: s?.queries ?? 0 };
  }

  /** Clears a principal's alarm and history (an operator decided it was benign). */
  reset(principal: string): void {
    this.principals.delete(principal);
  }

  private raise(principal: string, s: PrincipalState, signal: ExtractionSignal, details: Record<string, number>): void {
    s.alarmed = true;
    this.emit({ type: 'detector.alarm', detector: 'extraction', principal, model: this.model, details: { signal, queries: s.queries, ...details } });
  }
}

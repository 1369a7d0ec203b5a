import type { DetectorEvent } from '../types.js';
import { ModelStateMap, DEFAULT_MAX_MODELS } from '../ModelStateMap.js';

export interface PerformanceOptions {
  window: number;
  minSamples: number;
  minAccuracy: number;
  /** Models without a pin whose window is kept at once; the least recently labelled are forgotten beyond this. */
  maxModels?: number;
  /** Models whose window is never forgotten (those the gateway's upstreams name). */
  isPinned?: (model: string) => boolean;
}

export interface AccuracyReport {
  model: string;
  samples: number;
  accuracy: number;
  degraded: boolean;
}

const MAX_LABEL_LENGTH = 256;

class ModelWindow {
  readonly hits: Uint8Array;
  size = 0;
  next = 0;
  correct = 0;
  alarmed = false;
  constructor(window: number) {
    this.hits = new Uint8Array(window);
  }
}

/**
 * Model performance from feedback labels (POST /v1/feedback): accuracy over the last `window`
 * labelled predictions, with one alarm when it falls below `minAccuracy` (re-armed on recovery).
 */
export class PerformanceMonitor {
  private readonly models: ModelStateMap<ModelWindow>;

  constructor(
    private readonly options: PerformanceOptions,
    private readonly emit: (event: DetectorEvent) => void = () => {},
    private readonly onAccuracy: (model: string, accuracy: number) => void = () => {},
  ) {
    this.models = new ModelStateMap(options.maxModels ?? DEFAULT_MAX_MODELS, options.isPinned ?? (() => false));
  }

  /** Models with a window now. */
  get size(): number {
    return this.models.size;
  }

  record(model: string, predicted: string | number, actual: string | number): AccuracyReport {
    if (model.length === 0 || model.length > MAX_LABEL_LENGTH || String(predicted).length > MAX_LABEL_LENGTH || String(actual).length > MAX_LABEL_LENGTH) {
      throw new RangeError('model and labels must be 1 to 256 characters');
    }
    // Evicts the least recently labelled model rather than refusing labels for new ones: a hard
    // cap let a flood of made-up names stop feedback for every model.
    const w = this.models.getOrCreate(model, () => new ModelWindow(this.options.window));
    const hit = String(predicted) === String(actual) ? 1 : 0;
    if (w.size === this.options.window) w.correct -= w.hits[w.next]!;
    else w.size++;
    w.hits[w.next] = hit;
    w.correct += hit;
    w.next = (w.next + 1) % this.options.window;
    const accuracy = w.correct / w.size;
    this.onAccuracy(model, accuracy);
    const degraded = w.size >= this.options.minSamples && accuracy < this.options.minAccuracy;
    if (degraded && !w.alarmed) {
      w.alarmed = true;
      this.emit({
        type: 'detector.alarm',
        detector: 'accuracy',
        model,
        details: { accuracy, samples: w.size, minAccuracy: this.options.minAccuracy },
      });
    } else if (!degraded && w.alarmed && accuracy >= this.options.minAccuracy) {
      w.alarmed = false;
    }
    return { model, samples: w.size, accuracy, degraded };
  }

  accuracy(model: string): AccuracyReport | undefined {
    const w = this.models.get(model);
    if (!w || w.size === 0) return undefined;
    const accuracy = w.correct / w.size;
    return { model, samples: w.size, accuracy, degraded: w.size >= this.options.minSamples && accuracy < this.options.minAccuracy };
  }
}

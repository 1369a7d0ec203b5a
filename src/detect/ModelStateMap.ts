import { lruAdd, lruGet } from './lruMap.js';

/** Most models whose per-model detector state is kept at once, unless configured (detect.maxModels). */
export const DEFAULT_MAX_MODELS = 1000;

/**
 * Per-model detector state with a bound. Model names come from clients: through an upstream that
 * serves every name (`models: ['*']`) each made-up name would otherwise keep state for good.
 * Pinned models (named by an upstream or given a profile: the operator's own, bounded by config)
 * are never evicted, so cycling made-up names cannot reset their extraction budgets and alarms;
 * of the others at most `max` are kept, the least recently used forgotten first.
 */
export class ModelStateMap<V> {
  private readonly pinned = new Map<string, V>();
  /** Least recently used first (lruMap). */
  private readonly others = new Map<string, V>();

  constructor(
    private readonly max: number,
    private readonly isPinned: (model: string) => boolean,
  ) {}

  get(model: string): V | undefined {
    const p = this.pinned.get(model);
    if (p !== undefined) return p;
    return lruGet(this.others, model);
  }

  getOrCreate(model: string, create: () => V): V {
    let v = this.get(model);
    if (v === undefined) {
      v = create();
      if (this.isPinned(model)) this.pinned.set(model, v);
      else lruAdd(this.others, model, v, this.max);
    }
    return v;
  }

  delete(model: string): void {
    this.pinned.delete(model);
    this.others.delete(model);
  }

  /** Models with state now (pinned and others). */
  get size(): number {
    return this.pinned.size + this.others.size;
  }

  *entries(): IterableIterator<[string, V]> {
    yield* this.pinned;
    yield* this.others;
  }
}

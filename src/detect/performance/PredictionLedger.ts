import { lruAdd } from '../lruMap.js';

/** A prediction the gateway served, kept so that feedback can be tied to it (POST /v1/feedback). */
export interface ServedPrediction {
  /** The Cedar entity of the caller (`ApiKey::"team-a"`): only it may label this prediction. */
  principal: string;
  model: string;
  /** The label the gateway read from the answer (OIP `label` output or argmax), when it yields exactly one. */
  predicted?: number;
  expiresAt: number;
  /** Set once feedback was taken: a request id labels one prediction once. */
  labelled: boolean;
}

/**
 * Served predictions by gateway request id, bounded in number (the oldest go first) and in age.
 * Entries share one TTL and arrive in time order, so insertion order is expiry order: expired ones
 * are dropped from the front as new ones come.
 */
export class PredictionLedger {
  private readonly entries = new Map<string, ServedPrediction>();

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  record(requestId: string, prediction: Omit<ServedPrediction, 'expiresAt' | 'labelled'>): void {
    const now = this.now();
    for (const [id, e] of this.entries) {
      if (e.expiresAt > now) break;
      this.entries.delete(id);
    }
    this.entries.delete(requestId);
    lruAdd(this.entries, requestId, { ...prediction, expiresAt: now + this.ttlMs, labelled: false }, this.max);
  }

  /** The unexpired prediction served under `requestId`, or undefined. */
  get(requestId: string): ServedPrediction | undefined {
    const e = this.entries.get(requestId);
    if (e && e.expiresAt <= this.now()) {
      this.entries.delete(requestId);
      return undefined;
    }
    return e;
  }

  get size(): number {
    return this.entries.size;
  }
}

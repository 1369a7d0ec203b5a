import { SnapshotHolder, snapshotFromWire, type SnapshotWire } from '../gateway/index.js';
import { toWardenError, WardenError } from '../errors/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { buildSnapshotWire, SNAPSHOT_TTL_MS } from './snapshotBuilder.js';

import { PepTable } from './PepTable.js';

export type { PepStatus } from './PepTable.js';

/** Retry delays after a failed rebuild: doubling from `firstMs`, at most `maxMs`. */
export interface SnapshotRetryOptions {
  firstMs: number;
  maxMs: number;
}

/** Well under the refresh interval (TTL/3): a failed rebuild is retried within seconds. */
const DEFAULT_RETRY: SnapshotRetryOptions = { firstMs: 1_000, maxMs: 15_000 };

/**
 * Rebuilds the PEP snapshot on every 'snapshot:changed' event (coalescing bursts) and before its
 * TTL, installs it in the local holder (the in-process gateway) and pushes it to remote PEPs.
 * A failed rebuild is retried with a short backoff, and is reported to the changes waiting on it.
 */
export class SnapshotPublisher {
  readonly holder = new SnapshotHolder();
  private wire: SnapshotWire | null = null;
  private version = 0;
  private rebuilding: Promise<void> | null = null;
  private again = false;
  private latest: Promise<void> = Promise.resolve();
  /** 'snapshot:changed' events seen so far. */
  private changes = 0;
  /** How many of them the installed snapshot includes (changes seen when its build started). */
  private built = 0;
  /** The last change each request announced: only that request is told its change failed to build. */
  private readonly announced = new WeakMap<object, number>();
  private closed = false;
  /** The last rebuild's error, until a rebuild succeeds. */
  private failure: unknown = null;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryAt = 0;
  private readonly subscribers = new Set<(wire: SnapshotWire) => void>();
  private readonly refreshTimer: NodeJS.Timeout;
  /** Remote PEPs and the versions they enforce (bounded; see PepTable). */
  readonly peps = new PepTable();

  constructor(
    private readonly ctx: ControlPlaneContext,
    private readonly retry: SnapshotRetryOptions = DEFAULT_RETRY,
  ) {
    this.retryDelay = retry.firstMs;
    ctx.events.on('snapshot:changed', this.onChanged);
    this.refreshTimer = setInterval(() => void this.rebuild().catch(() => undefined), Math.floor(SNAPSHOT_TTL_MS / 3));
    this.refreshTimer.unref();
  }

  /** 'snapshot:changed' listener; `changedBy` is the request that made the change, if any. */
  private readonly onChanged = (changedBy?: unknown): void => {
    const n = ++this.changes;
    if (typeof changedBy === 'object' && changedBy !== null) this.announced.set(changedBy, n);
    this.latest = this.rebuild();
    // Reported through settled() and the log; no caller need be waiting.
    this.latest.catch(() => undefined);
  };

  /**
   * Resolves once the most recent change is in the snapshot (or its rebuild failed). Rejects with
   * WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED only when `changedBy` announced a change that could not
   * be built and no rebuild has included it since: that change is saved, but PEPs do not enforce
   * it yet. Another request's failed change is not this one's to report.
   */
  async settled(changedBy?: object): Promise<void> {
    const mine = changedBy === undefined ? undefined : this.announced.get(changedBy);
    try {
      await this.latest;
    } catch (err) {
      if (mine === undefined || this.built >= mine) return;
      const code = toWardenError(err).code;
      throw new WardenError(
        'WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED',
        `the change was saved, but the PEP snapshot could not be rebuilt to include it (${code}); the control plane retries in ${Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000))} s and gateways enforce the previous snapshot until then`,
        { cause: err },
      );
    }
  }

  currentWire(): SnapshotWire | null {
    return this.wire;
  }

  subscribe(fn: (wire: SnapshotWire) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Rebuilds now (or after the running rebuild); rejects when the rebuild covering this call fails. */
  async rebuild(): Promise<void> {
    // Closed: the store may be gone, and a failure would only arm another retry.
    if (this.closed) return;
    if (this.rebuilding) {
      this.again = true;
      return this.rebuilding;
    }
    this.rebuilding = (async () => {
      let failed: unknown = null;
      do {
        this.again = false;
        failed = null;
        // Every change announced so far was committed before this build reads the store.
        const covers = this.changes;
        try {
          const wire = await buildSnapshotWire(this.ctx, ++this.version);
          this.holder.update(snapshotFromWire(wire));
          this.wire = wire;
          this.built = Math.max(this.built, covers);
          for (const s of this.subscribers) s(wire);
        } catch (err) {
          failed = err;
        }
      } while (this.again && !this.closed);
      // Cleared in the same synchronous step as the last `again` check: a change announced from
      // here on starts a new rebuild rather than joining one that will not run again.
      this.rebuilding = null;
      if (failed === null) this.recovered();
      else {
        this.failed(failed);
        throw failed;
      }
    })();
    return this.rebuilding;
  }

  private recovered(): void {
    if (this.failure !== null) this.ctx.logger.info('snapshot rebuilt after a failure; PEPs are current again');
    this.failure = null;
    this.retryDelay = this.retry.firstMs;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private failed(err: unknown): void {
    this.failure = err;
    // A rebuild in flight at close() fails once the store closes: no retry, nothing to report.
    if (this.closed) return;
    if (!this.retryTimer) {
      const delay = this.retryDelay;
      this.retryDelay = Math.min(this.retry.maxMs, delay * 2);
      this.retryAt = Date.now() + delay;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.rebuild().catch(() => undefined);
      }, delay);
      this.retryTimer.unref();
    }
    this.ctx.logger.error({ code: toWardenError(err).code, err: (err as Error).message, retryMs: this.retryAt - Date.now() }, 'snapshot rebuild failed; retrying soon, PEPs keep the last snapshot until then');
  }

  close(): void {
    this.closed = true;
    this.ctx.events.off('snapshot:changed', this.onChanged);
    clearInterval(this.refreshTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.subscribers.clear();
  }
}

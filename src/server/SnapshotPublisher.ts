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
  /** 'snapshot:changed' events seen so far (a request notes the count on arrival). */
  private changes = 0;
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
    ctx.events.on('snapshot:changed', () => {
      this.changes++;
      this.latest = this.rebuild();
      // Reported through settled() and the log; no caller need be waiting.
      this.latest.catch(() => undefined);
    });
    this.refreshTimer = setInterval(() => void this.rebuild().catch(() => undefined), Math.floor(SNAPSHOT_TTL_MS / 3));
    this.refreshTimer.unref();
  }

  /** How many changes were announced so far; pass it to settled() to learn about later ones. */
  get changeCount(): number {
    return this.changes;
  }

  /**
   * Resolves once the most recent change is in the snapshot. Rejects with
   * WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED when a change announced after `since` (a changeCount)
   * could not be built into it and no rebuild has succeeded since: the change is saved, but PEPs
   * do not enforce it yet.
   */
  async settled(since = 0): Promise<void> {
    try {
      await this.latest;
    } catch (err) {
      if (this.failure === null || this.changes <= since) return;
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
    if (this.rebuilding) {
      this.again = true;
      return this.rebuilding;
    }
    this.rebuilding = (async () => {
      let failed: unknown = null;
      do {
        this.again = false;
        failed = null;
        try {
          const wire = await buildSnapshotWire(this.ctx, ++this.version);
          this.holder.update(snapshotFromWire(wire));
          this.wire = wire;
          for (const s of this.subscribers) s(wire);
        } catch (err) {
          failed = err;
        }
      } while (this.again);
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
    clearInterval(this.refreshTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.subscribers.clear();
  }
}

import { SnapshotHolder, snapshotFromWire, type SnapshotWire } from '../gateway/index.js';
import { toWardenError } from '../errors/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { buildSnapshotWire, SNAPSHOT_TTL_MS } from './snapshotBuilder.js';

import { PepTable } from './PepTable.js';

export type { PepStatus } from './PepTable.js';

/**
 * Rebuilds the PEP snapshot on every 'snapshot:changed' event (coalescing bursts) and before its
 * TTL, installs it in the local holder (the in-process gateway) and pushes it to remote PEPs.
 */
export class SnapshotPublisher {
  readonly holder = new SnapshotHolder();
  private wire: SnapshotWire | null = null;
  private version = 0;
  private rebuilding: Promise<void> | null = null;
  private again = false;
  private latest: Promise<void> = Promise.resolve();
  private readonly subscribers = new Set<(wire: SnapshotWire) => void>();
  private readonly refreshTimer: NodeJS.Timeout;
  /** Remote PEPs and the versions they enforce (bounded; see PepTable). */
  readonly peps = new PepTable();

  constructor(private readonly ctx: ControlPlaneContext) {
    ctx.events.on('snapshot:changed', () => {
      this.latest = this.rebuild();
    });
    this.refreshTimer = setInterval(() => void this.rebuild(), Math.floor(SNAPSHOT_TTL_MS / 3));
    this.refreshTimer.unref();
  }

  /** Resolves once the most recent change is in the snapshot. */
  settled(): Promise<void> {
    return this.latest;
  }

  currentWire(): SnapshotWire | null {
    return this.wire;
  }

  subscribe(fn: (wire: SnapshotWire) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  async rebuild(): Promise<void> {
    if (this.rebuilding) {
      this.again = true;
      return this.rebuilding;
    }
    this.rebuilding = (async () => {
      do {
        this.again = false;
        try {
          const wire = await buildSnapshotWire(this.ctx, ++this.version);
          this.holder.update(snapshotFromWire(wire));
          this.wire = wire;
          for (const s of this.subscribers) s(wire);
        } catch (err) {
          this.ctx.logger.error({ code: toWardenError(err).code, err: (err as Error).message }, 'snapshot rebuild failed; PEPs keep the last one until its TTL');
        }
      } while (this.again);
    })();
    try {
      await this.rebuilding;
    } finally {
      this.rebuilding = null;
    }
  }

  close(): void {
    clearInterval(this.refreshTimer);
    this.subscribers.clear();
  }
}

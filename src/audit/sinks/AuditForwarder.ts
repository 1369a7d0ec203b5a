import type { AuditEntry } from '../AuditQuery.js';
import type { AuditSink } from './AuditSink.js';

export interface AuditForwarderOptions {
  /** Entries kept per sink while it is unreachable; beyond this the oldest are dropped (and counted). */
  maxQueue?: number;
  batchSize?: number;
  /** First retry delay; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Called with the number of entries a sink dropped, so the log can record it. */
  onDropped?: (sink: string, dropped: number) => void;
}

interface Lane {
  sink: AuditSink;
  queue: AuditEntry[];
  running: Promise<void> | null;
  backoff: number;
  dropped: number;
  sent: number;
  lastError: string | null;
  timer: NodeJS.Timeout | null;
}

/**
 * Live SIEM forwarding of durable entries, off the log's write path. The log itself is
 * the record of truth: a sink that is down gets retries with backoff and a bounded
 * backlog; overflow drops the oldest entries and reports the count (backfill with
 * `warden audit export --from-index`).
 */
export class AuditForwarder {
  private readonly lanes: Lane[];
  private closed = false;

  constructor(
    sinks: readonly AuditSink[],
    private readonly options: AuditForwarderOptions = {},
  ) {
    this.lanes = sinks.map((sink) => ({ sink, queue: [], running: null, backoff: 0, dropped: 0, sent: 0, lastError: null, timer: null }));
  }

  get status(): { sink: string; queued: number; sent: number; dropped: number; lastError: string | null }[] {
    return this.lanes.map((l) => ({ sink: l.sink.name, queued: l.queue.length, sent: l.sent, dropped: l.dropped, lastError: l.lastError }));
  }

  enqueue(entries: readonly AuditEntry[]): void {
    if (this.closed || entries.length === 0) return;
    const max = this.options.maxQueue ?? 100_000;
    for (const lane of this.lanes) {
      lane.queue.push(...entries);
      const over = lane.queue.length - max;
      if (over > 0) {
        lane.queue.splice(0, over);
        lane.dropped += over;
        this.options.onDropped?.(lane.sink.name, over);
      }
      if (!lane.timer) this.pump(lane);
    }
  }

  private pump(lane: Lane): void {
    lane.running ??= (async () => {
      const size = this.options.batchSize ?? 500;
      try {
        while (lane.queue.length > 0) {
          const batch = lane.queue.slice(0, size);
          try {
            await lane.sink.send(batch);
          } catch (err) {
            lane.lastError = (err as Error).message;
            const base = this.options.backoffMs ?? 200;
            lane.backoff = Math.min(lane.backoff ? lane.backoff * 2 : base, this.options.maxBackoffMs ?? 30_000);
            if (!this.closed) {
              lane.timer = setTimeout(() => {
                lane.timer = null;
                this.pump(lane);
              }, lane.backoff);
              lane.timer.unref();
            }
            return;
          }
          // Entries may have been dropped from the front meanwhile; remove what was sent.
          const idx = lane.queue.indexOf(batch[batch.length - 1]!);
          lane.queue.splice(0, idx >= 0 ? idx + 1 : 0);
          lane.sent += batch.length;
          lane.backoff = 0;
          lane.lastError = null;
        }
      } finally {
        lane.running = null;
      }
    })();
  }

  /** Tries to deliver what is queued within `timeoutMs`, then closes every sink. */
  async close(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const lane of this.lanes) {
      if (lane.timer) {
        clearTimeout(lane.timer);
        lane.timer = null;
        this.pump(lane);
      }
    }
    while (Date.now() < deadline && this.lanes.some((l) => l.queue.length > 0 && l.running)) {
      await Promise.race([Promise.all(this.lanes.map((l) => l.running)), new Promise((r) => setTimeout(r, 50))]);
    }
    this.closed = true;
    for (const lane of this.lanes) {
      if (lane.timer) clearTimeout(lane.timer);
      await lane.sink.close().catch(() => undefined);
    }
  }
}
